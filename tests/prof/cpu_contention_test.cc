// The CPU profiler and the contention recorder in-process, without the
// server, so that the sanitizer builds check the signal-handler/drain
// protocol and the recorder's table under real concurrency.
#include <signal.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

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
