// The CPU profiler and the contention recorder in-process, without the
// server, so that the sanitizer builds check the signal-handler/drain
// protocol and the recorder's table under real concurrency.
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "prof/signal_channel.h"
#include "support/forked_child.h"
#include "syncscope/prof/contention_profiler.h"
#include "syncscope/prof/cpu_profiler.h"

namespace syncscope::prof {
namespace {

using namespace std::chrono_literals;

bool sigprof_is_ours() {
  struct sigaction sa {};
  sigaction(SIGPROF, nullptr, &sa);
  return (sa.sa_flags & SA_SIGINFO) != 0;
}

bool sigprof_default() {
  struct sigaction sa {};
  sigaction(SIGPROF, nullptr, &sa);
  return (sa.sa_flags & SA_SIGINFO) == 0 && sa.sa_handler == SIG_DFL;
}

double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Burns `seconds` of its own CPU time.
void burn(double seconds) {
  volatile double x = 0;
  const double start = thread_cpu_s();
  while (thread_cpu_s() - start < seconds) {
    for (int i = 0; i < 10000; ++i) x = x + i * 0.5;
  }
}

TEST(CpuProfiler, SpinningThreads_Sampled_SigprofRestored) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> spinners;
  for (int i = 0; i < 2; ++i) {
    spinners.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) burn(0.01);  // relaxed: a stop flag
    });
  }
  CpuProfileOptions o;
  o.hz = 250;
  o.duration = 400ms;
  const CpuProfileResult r = profile_cpu(o);
  stop.store(true, std::memory_order_relaxed);  // relaxed: see the loop
  for (std::thread& t : spinners) t.join();
  ASSERT_EQ(r.status, CpuProfileStatus::kOk) << r.message;
  EXPECT_GT(r.samples, 0u);
  EXPECT_GE(r.threads, 3u) << "the two spinners and the caller";
  EXPECT_FALSE(r.profile.empty());
  EXPECT_TRUE(r.handler_restored);
  EXPECT_TRUE(sigprof_default());
}

enum BlockedChild {
  kBlockedOk = 0,
  kBlockedProfileFailed = 10,
  kBlockedNeverPending,
  kBlockedNotRestored,
  kBlockedNotDefault,
  kBlockedStillPending,
};

// A thread that blocks SIGPROF and burns CPU through a profile keeps its
// timer's SIGPROF pending to the end: no wait for it to be delivered can
// finish. The profile must still put SIG_DFL back, and the pending signal
// must be gone, or the thread's next unblock kills the process (SIGPROF's
// default action). In a forked child: a regression kills the child, not
// the suite.
TEST(CpuProfiler, ThreadBlockingSigprof_PendingDiscarded_DefaultRestored) {
  const test_support::ChildOutcome out = test_support::run_in_child(
      [] {
        std::atomic<pid_t> blocked_tid{0};
        std::atomic<bool> stop_burning{false}, unblock{false}, watching{true};
        std::atomic<bool> seen_pending{false};
        // All flags relaxed: each is a plain signal between the threads;
        // the joins order everything the checks read.
        std::thread blocked([&] {
          sigset_t prof;
          sigemptyset(&prof);
          sigaddset(&prof, SIGPROF);
          pthread_sigmask(SIG_BLOCK, &prof, nullptr);
          blocked_tid.store(static_cast<pid_t>(::syscall(SYS_gettid)), std::memory_order_relaxed);
          while (!stop_burning.load(std::memory_order_relaxed)) burn(0.005);
          while (!unblock.load(std::memory_order_relaxed)) std::this_thread::sleep_for(1ms);
          // Delivers whatever is still pending, with the restored
          // disposition (SIG_DFL: termination).
          pthread_sigmask(SIG_UNBLOCK, &prof, nullptr);
        });
        while (blocked_tid.load(std::memory_order_relaxed) == 0) std::this_thread::sleep_for(1ms);
        const pid_t tid = blocked_tid.load(std::memory_order_relaxed);
        // Proof the case is exercised: the timer's signal is seen pending
        // in the blocked thread while the profile runs.
        std::thread watcher([&] {
          while (watching.load(std::memory_order_relaxed)) {
            if (internal::read_thread_signal_state(tid, SIGPROF).pending) seen_pending.store(true, std::memory_order_relaxed);
            std::this_thread::sleep_for(2ms);
          }
        });
        CpuProfileOptions o;
        o.hz = 100;
        o.duration = 400ms;
        const CpuProfileResult r = profile_cpu(o);
        watching.store(false, std::memory_order_relaxed);
        watcher.join();
        const bool still_pending = internal::read_thread_signal_state(tid, SIGPROF).pending;
        const bool is_default = sigprof_default();
        stop_burning.store(true, std::memory_order_relaxed);
        unblock.store(true, std::memory_order_relaxed);
        blocked.join();
        if (r.status != CpuProfileStatus::kOk) return static_cast<int>(kBlockedProfileFailed);
        if (!seen_pending.load(std::memory_order_relaxed)) return static_cast<int>(kBlockedNeverPending);
        if (!r.handler_restored) return static_cast<int>(kBlockedNotRestored);
        if (!is_default) return static_cast<int>(kBlockedNotDefault);
        if (still_pending) return static_cast<int>(kBlockedStillPending);
        return static_cast<int>(kBlockedOk);
      },
      30s);
  EXPECT_TRUE(out.exited_with(kBlockedOk))
      << out.describe() << " (10 profile failed, 11 SIGPROF never pending, 12 handler not restored, "
      << "13 SIGPROF not back to SIG_DFL, 14 SIGPROF still pending after the profile)";
}

TEST(CpuProfiler, SecondConcurrentCall_IsBusy_BadOptionsRefused) {
  CpuProfileResult first;
  std::thread t([&] {
    CpuProfileOptions o;
    o.duration = 500ms;
    first = profile_cpu(o);
  });
  bool started = false;
  for (int i = 0; i < 5000 && !started; ++i) {
    started = sigprof_is_ours();
    if (!started) std::this_thread::sleep_for(1ms);
  }
  CpuProfileResult second;
  if (started) second = profile_cpu({});
  t.join();
  ASSERT_TRUE(started) << "the first profile never installed its handler";
  EXPECT_EQ(second.status, CpuProfileStatus::kBusy);
  EXPECT_EQ(second.message, "cpu profiling already in use");
  EXPECT_EQ(first.status, CpuProfileStatus::kOk) << first.message;
  CpuProfileOptions bad;
  bad.hz = 0;
  EXPECT_EQ(profile_cpu(bad).status, CpuProfileStatus::kInvalidArgument);
  bad.hz = kMaxCpuProfileHz + 1;
  EXPECT_EQ(profile_cpu(bad).status, CpuProfileStatus::kInvalidArgument);
  bad.hz = 100;
  bad.duration = 0ms;
  EXPECT_EQ(profile_cpu(bad).status, CpuProfileStatus::kInvalidArgument);
}

std::int64_t total_count(ContentionKind kind) {
  std::int64_t n = 0;
  for (const ContentionRecord& r : contention_records(kind)) n += r.count;
  return n;
}

TEST(ContentionRecorder, ConcurrentRecords_AllCounted_ScaledBlockEvents) {
  const int old_fraction = set_mutex_profile_fraction(1);
  const std::int64_t before = total_count(ContentionKind::kMutex);
  constexpr int kThreads = 4, kEach = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([] {
      for (int i = 0; i < kEach; ++i) record_contention(ContentionKind::kMutex, 1000 + i);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(total_count(ContentionKind::kMutex) - before, kThreads * kEach);
  set_mutex_profile_fraction(0);
  record_contention(ContentionKind::kMutex, 5000);
  EXPECT_EQ(total_count(ContentionKind::kMutex) - before, kThreads * kEach) << "recorded while off";
  set_mutex_profile_fraction(old_fraction);

  // A wait at least as long as the rate is recorded as it is.
  const std::int64_t old_rate = set_block_profile_rate(1000);
  const std::int64_t block_before = total_count(ContentionKind::kBlock);
  record_contention(ContentionKind::kBlock, 5000);
  EXPECT_EQ(total_count(ContentionKind::kBlock) - block_before, 1);
  set_block_profile_rate(old_rate);
  EXPECT_FALSE(contention_profile(ContentionKind::kBlock).empty());
}

}  // namespace
}  // namespace syncscope::prof
