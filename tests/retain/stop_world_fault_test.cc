// Fault injection around stop-the-world and thread dumps (issue 13 item 8,
// the snapshot part), bounded and in a forked child with a deadline: while
// stops and dumps run, threads start and exit, a thread forks, a thread
// loads and unloads a library (the loader lock), threads block every signal
// at random, a thread is stopped by a debugger for a while, and the
// per-user pending-signal limit is low. Every stop must return within its
// bound, account for every thread it did not pause, and the process must
// keep running.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

#include "retain/world_stopper.h"
#include "support/forked_child.h"
#include "support/signal_workloads.h"
#include "support/traced_stop.h"
#include "syncscope/task/thread_dump.h"

namespace syncscope::retain::internal {
namespace {

using namespace std::chrono_literals;
using namespace test_support;

constexpr int kRounds = 20;
constexpr int kTracedRounds = 3;      // the debugger lets go after these
constexpr auto kStopTimeout = 400ms;
constexpr int kSleepers = 3;

// Background threads that each do one kind of damage until stopped.
class Faults {
 public:
  Faults() {
    spawn([this] {  // short-lived threads
      while (!stop_.load()) std::thread([] {}).join();
    });
    spawn([this] {  // fork + immediate exit of the child
      while (!stop_.load()) {
        const pid_t child = ::fork();
        if (child == 0) ::_exit(0);
        if (child > 0) ::waitpid(child, nullptr, 0);
        std::this_thread::sleep_for(1ms);
      }
    });
    spawn([this] {  // the loader lock, taken and released all the time
      const char* const kLibs[] = {"libanl.so.1", "libBrokenLocale.so.1", "libnsl.so.2"};
      for (int i = 0; !stop_.load(); ++i) {
        if (void* h = ::dlopen(kLibs[i % 3], RTLD_NOW | RTLD_LOCAL)) ::dlclose(h);
      }
    });
    spawn([this] {  // every signal blocked for good (a timer helper thread, say)
      sigset_t all;
      sigfillset(&all);
      pthread_sigmask(SIG_BLOCK, &all, nullptr);
      while (!stop_.load()) std::this_thread::sleep_for(1ms);
    });
    for (int b = 0; b < 2; ++b) {
      spawn([this, b] {  // every signal blocked at random moments
        std::minstd_rand rng(static_cast<unsigned>(17 + b));
        sigset_t all;
        sigfillset(&all);
        while (!stop_.load()) {
          pthread_sigmask(rng() % 2 ? SIG_BLOCK : SIG_UNBLOCK, &all, nullptr);
          std::this_thread::sleep_for(std::chrono::microseconds(200 + rng() % 2000));
        }
      });
    }
  }
  ~Faults() {
    stop_.store(true);
    for (auto& t : threads_) t.join();
  }

 private:
  template <class F>
  void spawn(F f) {
    threads_.emplace_back(std::move(f));
  }
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

int run_faults() {
  if (!lower_pending_limit(16)) return 10;
  Sleepers sleepers(kSleepers);
  std::atomic<pid_t> traced_tid{0};
  std::atomic<bool> traced_stop{false};
  std::thread traced_thread([&] {
    traced_tid.store(gettid_now());
    while (!traced_stop.load()) std::this_thread::sleep_for(1ms);
  });
  while (traced_tid.load() == 0) std::this_thread::sleep_for(1ms);
  Faults faults;
  auto traced = std::make_unique<TracedStop>(traced_tid.load());
  const bool have_ptrace = traced->ok();
  std::size_t timed_out = 0, blocked = 0, failed = 0, gone = 0;
  for (int round = 0; round < kRounds; ++round) {
    if (round == kTracedRounds) traced.reset();  // the debugger lets go
    const auto start = std::chrono::steady_clock::now();
    const StopResult r = WorldStopper::stop(0, kStopTimeout, true);
    const auto took = std::chrono::steady_clock::now() - start;
    WorldStopper::resume(r);
    WorldStopper::unwind_frames(r);
    // A bound, not a speed: the timeout, the blocked-signal grace and the
    // final grace, with room for a loaded machine.
    if (took > kStopTimeout + 5s) {
      std::fprintf(stderr, "round %d: stop took %lld ms\n", round,
                   static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));
      return 1;
    }
    if (r.paused < kSleepers) {
      std::fprintf(stderr, "round %d: paused %zu of %zu (abandoned %zu)\n", round, r.paused, r.count, r.abandoned);
      return 2;
    }
    if (r.paused + r.abandoned + r.gone != r.count) return 3;  // every thread accounted for
    if (have_ptrace && round < kTracedRounds && r.timed_out < 1) return 4;  // the traced thread
    if (r.blocked < 1) return 7;  // the thread that blocks every signal
    timed_out += r.timed_out, blocked += r.blocked, failed += r.signal_failed, gone += r.gone;
    if (round % 2 == 0) {
      for (const task::ThreadStack& t : task::dump_all_threads({.timeout = kStopTimeout}))
        if (t.is_caller && t.pcs.empty()) return 5;
    }
    const std::uint64_t before = sleepers.rounds();  // and everyone runs on
    for (int i = 0; i < 2000 && sleepers.rounds() == before; ++i) std::this_thread::sleep_for(1ms);
    if (sleepers.rounds() == before) return 6;
  }
  std::fprintf(stderr, "skipped over %d stops: %zu timed out, %zu blocking, %zu send failures, %zu gone\n",
               kRounds, timed_out, blocked, failed, gone);
  traced_stop.store(true);
  traced_thread.join();
  return 0;
}

TEST(StopWorldFaults, ExitsForksDlopenBlockedAndTracedThreads_EveryStopBoundedAndAccounted) {
  const auto out = run_in_child(run_faults, 60s);
  EXPECT_TRUE(out.exited_with(0)) << out.describe();
}

// A dump and a stop at the same time, from two threads, while the program
// handles both preferred signals: both look for a free signal at once and
// must never end up on the same one (a stop signal routed to the dump's
// handler would be forwarded to the program's disposition).
int run_dump_and_stop_at_once() {
  struct sigaction sa {};
  sa.sa_handler = program_handler;
  ::sigaction(WorldStopper::default_signal(), &sa, nullptr);
  ::sigaction(task::thread_dump_signal(), &sa, nullptr);
  Sleepers spinners(2, Sleepers::kSpin);
  std::atomic<int> bad_dumps{0};
  std::thread dumper([&] {
    for (int i = 0; i < 30; ++i) {
      for (const task::ThreadStack& t : task::dump_all_threads({.timeout = 2000ms}))
        if (t.status != task::CaptureStatus::kOk) bad_dumps.fetch_add(1);
    }
  });
  int bad_stops = 0;
  for (int i = 0; i < 30; ++i) {
    const StopResult r = WorldStopper::stop(0, 2000ms, false);
    WorldStopper::resume(r);
    bad_stops += r.slots == nullptr || r.paused < 2 ? 1 : 0;  // the spinners at least
  }
  dumper.join();
  if (bad_stops != 0 || bad_dumps.load() != 0) {
    std::fprintf(stderr, "%d failed stops, %d threads not dumped\n", bad_stops, bad_dumps.load());
    return 1;
  }
  return g_program_received.load() == 0 ? 0 : 2;  // none of ours reached the program
}

TEST(StopWorldFaults, DumpAndStopAtOnce_NeverShareASignal) {
  const auto out = run_in_child(run_dump_and_stop_at_once, 60s);
  EXPECT_TRUE(out.exited_with(0)) << out.describe();
}

}  // namespace
}  // namespace syncscope::retain::internal
