// fork() while other threads walk their stacks: the child's own first stack
// walk must not hang. A walk holds locks while it looks return addresses up
// (the loader's module-list lock, libunwind's own mutex) that nothing resets
// in a fork child, so a child forked in the middle of another thread's walk
// hung at its first one (without the gate's fork handlers: a hang within the
// first 5 forks in each of 3 runs). Every walk the profiler and the task
// runtime make passes the unwind gate (src/prof/unwind_gate.h), which fork's prepare
// handler closes until the walks in flight are done. The gate registers its
// own fork handlers, so this holds with the heap profiler off, as here.
//
// Runs in a forked child with a deadline (the sandbox), which forks the
// children under test and waits for each with a deadline of its own.
#include <signal.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "support/forked_child.h"
#include "syncscope/prof/stack_trace.h"

namespace {

using namespace std::chrono_literals;
using syncscope::prof::kMaxStackDepth;

// One walk from this thread's registers: every frame is looked up in the
// loaded modules (no per-thread cache of earlier stacks answers it).
int walk_from_here() {
  ucontext_t context;
  if (getcontext(&context) != 0) return 0;
  std::uintptr_t pcs[kMaxStackDepth];
  return syncscope::prof::capture_stack_from_context(&context, pcs, kMaxStackDepth);
}

// Waits for `child` for at most `limit`; kills it when it is still running.
// Returns its wait status, or -1 when it had to be killed (a hang).
int wait_or_kill(pid_t child, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(child, &status, WNOHANG) == child) return status;
    std::this_thread::sleep_for(1ms);
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, &status, 0);
  return -1;
}

// Exit codes of the sandbox: 1 a child hung, 2 a child exited otherwise than
// with 0 (3 from the child: its walk found no frames), 3 the walks did not
// overlap the forks (the race was not exercised).
TEST(UnwindGate, ChildrenForkedWhileThreadsWalkTheirStacks_WalkWithoutHanging) {
  constexpr int kForks = 300;
  const auto outcome = syncscope::test_support::run_in_child(
      [] {
        std::atomic<bool> stop{false};
        std::atomic<long> walks{0};
        std::vector<std::thread> walkers;
        for (int w = 0; w < 2; ++w) {
          walkers.emplace_back([&] {
            while (!stop.load()) {
              walk_from_here();
              walks.fetch_add(1);
            }
          });
        }
        while (walks.load() == 0) std::this_thread::yield();
        const long walks_before = walks.load();
        int hung = 0;
        int bad = 0;
        int forks = 0;
        for (; forks < kForks; ++forks) {
          const pid_t child = ::fork();
          if (child == 0) ::_exit(walk_from_here() > 0 ? 0 : 3);
          if (child < 0) {
            ++bad;
            continue;
          }
          const int status = wait_or_kill(child, 10s);
          if (status == -1) {
            ++hung;
            break;  // one is the failure; stop before the sandbox's deadline
          } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            ++bad;
          }
        }
        const long walks_during = walks.load() - walks_before;
        stop = true;
        for (std::thread& t : walkers) t.join();
        std::printf("forks=%d hung=%d bad=%d walks_during_forks=%ld\n", forks, hung, bad, walks_during);
        std::fflush(stdout);
        if (hung != 0) return 1;
        if (bad != 0) return 2;
        return forks == kForks && walks_during >= kForks ? 0 : 3;
      },
      std::chrono::seconds(240));
  EXPECT_TRUE(outcome.exited_with(0))
      << outcome.describe()
      << " (1: a child hung at its first stack walk; 2: a child failed or found no frames; 3: no walks "
         "overlapped the forks)";
}

}  // namespace
