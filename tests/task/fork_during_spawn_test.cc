// fork() while other threads walk their stacks to record task spawns: the
// child's own first stack walk must not hang. glibc 2.36 leaves the loader's
// module-list lock as the fork found it, and a walk holds that lock while it
// looks return addresses up (dl_iterate_phdr), so a child forked in the
// middle of another thread's walk used to hang at its first one. Every walk
// the runtime makes passes the unwind gate (src/prof/unwind_gate.h), which
// fork's prepare handler closes until the walks in flight are done.
//
// Runs in a forked child with a deadline (the sandbox), which forks the
// children under test and waits for each with a deadline of its own.
#include <signal.h>
#include <sys/wait.h>
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
#include "syncscope/task/task.h"

namespace {

using namespace std::chrono_literals;

// The child's first walk: a function no thread called before the fork, so
// the walk cannot be answered from a per-thread cache of earlier stacks.
__attribute__((noinline)) int walk_in_child() {
  std::uintptr_t pcs[syncscope::prof::kMaxStackDepth];
  const int n = syncscope::prof::capture_stack(pcs, syncscope::prof::kMaxStackDepth, 0);
  asm volatile("" ::: "memory");  // not a tail call
  return n;
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
// with 0 (3 from the child: its walk found no frames), 3 the spawns did not
// overlap the forks (the race was not exercised).
TEST(ForkDuringSpawn, ChildrenForkedWhileThreadsSpawnTasks_WalkTheirStacksWithoutHanging) {
  constexpr int kForks = 300;
  const auto outcome = syncscope::test_support::run_in_child(
      [] {
        std::atomic<bool> stop{false};
        std::atomic<long> spawns{0};
        std::vector<std::thread> spawners;
        for (int s = 0; s < 2; ++s) {
          spawners.emplace_back([&] {
            while (!stop.load()) {
              // Each spawn comes from a new thread: its spawn stack is that
              // thread's first walk, which no cache answers.
              std::thread t([&] {
                syncscope::task::spawn_detached("fork race", [] {});
                spawns.fetch_add(1);
              });
              t.join();
            }
          });
        }
        while (spawns.load() == 0) std::this_thread::yield();
        const long spawns_before = spawns.load();
        int hung = 0;
        int bad = 0;
        for (int i = 0; i < kForks; ++i) {
          const pid_t child = ::fork();
          if (child == 0) ::_exit(walk_in_child() > 0 ? 0 : 3);
          if (child < 0) {
            ++bad;
            continue;
          }
          const int status = wait_or_kill(child, 10s);
          if (status == -1) {
            ++hung;
          } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            ++bad;
          }
        }
        const long spawns_during = spawns.load() - spawns_before;
        stop = true;
        for (std::thread& t : spawners) t.join();
        std::printf("forks=%d hung=%d bad=%d spawns_during_forks=%ld\n", kForks, hung, bad, spawns_during);
        std::fflush(stdout);
        if (hung != 0) return 1;
        if (bad != 0) return 2;
        return spawns_during >= kForks / 10 ? 0 : 3;
      },
      std::chrono::seconds(240));
  EXPECT_TRUE(outcome.exited_with(0))
      << outcome.describe()
      << " (1: a child hung at its first stack walk; 2: a child failed or found no frames; 3: no spawns "
         "overlapped the forks)";
}

}  // namespace
