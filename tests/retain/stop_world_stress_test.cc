// Bounded stress: snapshots while other threads allocate, free, start and
// exit, sit in system calls, or block the stop signal. No crash, no
// deadlock, every snapshot completes, paused threads resume.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/live_blocks.h"
#include "syncscope/retain/retention.h"

namespace syncscope::retain {
namespace {

constexpr int kSnapshots = 12;
constexpr int kAllocators = 3;

// Per-worker progress, read by the snapshotting thread (relaxed: a counter
// only; its growth between two reads is all that is compared).
struct Progress {
  std::atomic<std::uint64_t> steps{0};
  std::uint64_t read() const { return steps.load(std::memory_order_relaxed); }
  void step() { steps.fetch_add(1, std::memory_order_relaxed); }
};

// True once every counter moved past its `from` value (bounded wait).
bool all_advanced(const std::vector<Progress>& p, const std::vector<std::uint64_t>& from) {
  for (int i = 0; i < 5000; ++i) {
    bool all = true;
    for (std::size_t w = 0; w < p.size(); ++w) all = all && p[w].read() > from[w];
    if (all) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

std::vector<std::uint64_t> reads(const std::vector<Progress>& p) {
  std::vector<std::uint64_t> out;
  for (const Progress& x : p) out.push_back(x.read());
  return out;
}

TEST(StopWorldStress, ChurningThreads_SnapshotsCompleteAndThreadsResume) {
  prof::HeapProfiler::set_exact_mode(true);
  std::atomic<bool> stop{false};
  // [0, kAllocators): the allocators; kAllocators: the thread churner.
  std::vector<Progress> progress(kAllocators + 1);
  std::vector<std::thread> workers;
  for (int w = 0; w < kAllocators; ++w) {
    workers.emplace_back([&, w] {
      std::vector<std::unique_ptr<std::vector<int>>> keep;
      std::uint64_t i = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        keep.push_back(std::make_unique<std::vector<int>>(static_cast<std::size_t>(1 + (i * 7 + w) % 64)));
        if (keep.size() > 256) keep.erase(keep.begin(), keep.begin() + 128);
        ++i;
        progress[w].step();
      }
    });
  }
  // Threads that start and exit all the time.
  workers.emplace_back([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      std::thread([] { auto p = std::make_unique<char[]>(128); (void)p; }).join();
      progress[kAllocators].step();
    }
  });
  // A thread sitting in a system call.
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  workers.emplace_back([&] {
    char c;
    while (read(pipe_fds[0], &c, 1) == 1 && c != 'q') {
    }
  });
  // Every worker is under way before the first snapshot.
  const bool all_started = all_advanced(progress, std::vector<std::uint64_t>(progress.size(), 0));

  int interleaved = 0;  // snapshots after which every worker moved again
  for (int s = 0; s < kSnapshots && all_started; ++s) {
    absl::StatusOr<RetentionSnapshot> snap = take_snapshot();
    ASSERT_TRUE(snap.ok()) << snap.status();
    EXPECT_GE(snap->stats().threads_paused, static_cast<std::uint64_t>(kAllocators));
    EXPECT_GT(snap->stats().blocks, 0u);
    // Paused threads resumed: each worker makes progress again, so the next
    // snapshot stops them mid-work too.
    const bool resumed = all_advanced(progress, reads(progress));
    EXPECT_TRUE(resumed) << "snapshot " << s;
    interleaved += resumed ? 1 : 0;
  }
  stop.store(true);
  ASSERT_EQ(write(pipe_fds[1], "q", 1), 1);
  for (auto& t : workers) t.join();
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  ASSERT_TRUE(all_started) << "a worker never started";
  // Every snapshot stopped a world in which all workers were running.
  EXPECT_EQ(interleaved, kSnapshots);
}

TEST(StopWorldStress, ThreadBlockingTheSignal_AbandonedNotWaitedFor) {
  prof::HeapProfiler::set_exact_mode(true);
  std::atomic<bool> ready{false}, stop{false};
  std::thread blocker([&] {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    ready.store(true);
    while (!stop.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (!ready.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  Options o;
  o.pause_timeout = std::chrono::milliseconds(100);
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<RetentionSnapshot> snap = take_snapshot(o);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_GE(snap->stats().threads_unresponsive, 1u);
  // Bounded: the timeout plus scanning, not forever (generous bound, not a speed test).
  EXPECT_LT(took, std::chrono::seconds(20));
  stop.store(true);
  blocker.join();
  // The stop signal stays pending on the blocker until it exits; a later
  // snapshot is unaffected.
  EXPECT_TRUE(take_snapshot().ok());
}

TEST(StopWorldStress, ExactTableAskedWithExactModeOff_FailedPreconditionAndAutoWalksTheHeap) {
  prof::HeapProfiler::set_exact_mode(false);
  Options exact;
  exact.block_source = BlockSource::kExactTable;
  EXPECT_EQ(take_snapshot(exact).status().code(), absl::StatusCode::kFailedPrecondition);
  absl::StatusOr<RetentionSnapshot> walked = take_snapshot();
  ASSERT_TRUE(walked.ok()) << walked.status();
  EXPECT_EQ(walked->stats().block_source, BlockSource::kHeapWalk);
  Options o;
  o.signal = SIGSEGV;
  prof::HeapProfiler::set_exact_mode(true);
  EXPECT_EQ(take_snapshot(o).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace syncscope::retain
