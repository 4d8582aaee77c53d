// Stress: 4 threads x 10^6 mixed allocate/free operations through every
// interposer, with threads starting and exiting throughout and a fork in the
// middle, sampling at a high rate and exact mode on. Bounded by operation
// count; checks no deadlock (the fork child must finish) and consistent
// books: everything the workload allocated it freed, so the counters' live
// bytes/objects, the exact table and the sampled in-use estimate return to
// where they started.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <new>
#include <random>
#include <thread>
#include <vector>

#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/live_blocks.h"

namespace syncscope::prof {
namespace {

constexpr int kThreads = 4;
constexpr int kGenerations = 4;                       // threads exit and restart 4 times
constexpr int kOpsPerThread = 1000000 / kGenerations;  // 10^6 per thread slot in total

struct Block {
  void* p;
  int kind;
};

void release(const Block& b) {
  switch (b.kind) {
    case 0: std::free(b.p); break;
    case 1: delete[] static_cast<char*>(b.p); break;
    case 2: ::operator delete(b.p, std::align_val_t{64}); break;
    default: std::free(b.p); break;
  }
}

Block allocate(std::mt19937& rng) {
  const std::size_t n = 8 + rng() % 4096;
  switch (rng() % 6) {
    case 0: return {std::malloc(n), 0};
    case 1: return {new char[n], 1};
    case 2: return {::operator new(n, std::align_val_t{64}), 2};
    case 3: return {std::calloc(1, n), 0};
    case 4: {
      void* p = nullptr;
      return {posix_memalign(&p, 32, n) == 0 ? p : std::malloc(n), 0};
    }
    default: return {std::realloc(std::malloc(n / 2 + 1), n), 0};
  }
}

void worker(unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<Block> live;
  live.reserve(1024);
  for (int op = 0; op < kOpsPerThread; ++op) {
    if (live.size() < 1000 && (live.empty() || rng() % 2 == 0)) {
      live.push_back(allocate(rng));
    } else {
      const std::size_t i = rng() % live.size();
      release(live[i]);
      live[i] = live.back();
      live.pop_back();
    }
  }
  for (const Block& b : live) release(b);
}

std::size_t table_blocks();

// In the child: the hooks and their locks must work after fork, and a
// freeze must not wait for the parent's threads (which do not exist here).
int child_after_fork() {
  std::mt19937 rng(7);
  const HeapCounters before = HeapProfiler::counters();
  std::vector<Block> blocks;
  for (int i = 0; i < 10000; ++i) blocks.push_back(allocate(rng));
  for (const Block& b : blocks) release(b);
  const HeapCounters after = HeapProfiler::counters();
  table_blocks();
  return after.allocated_objects - before.allocated_objects >= 10000 ? 0 : 3;
}

std::size_t table_blocks() {
  LiveBlockTable& t = LiveBlockTable::instance();
  t.freeze();
  const std::size_t n = t.block_count();
  t.thaw();
  return n;
}

TEST(HeapStress, ThreadsChurnAndFork_CountersConsistent) {
  HeapProfiler::set_sample_rate(4096);
  HeapProfiler::start();
  HeapProfiler::set_exact_mode(true);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  const std::size_t blocks_before = table_blocks();
  const std::int64_t inuse_before = HeapProfiler::snapshot().total_inuse_bytes();
  const HeapCounters before = HeapProfiler::counters();

  int child_status = -1;
  for (int gen = 0; gen < kGenerations; ++gen) {
    for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, gen * 100 + t);
    if (gen == kGenerations / 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // workers mid-flight
      const pid_t pid = fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) _exit(child_after_fork());
      // Bounded wait: a deadlocked child fails the test instead of hanging it.
      for (int i = 0; i < 300 && child_status == -1; ++i) {
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid) child_status = st;
        else std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (child_status == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
    for (std::thread& th : threads) th.join();
    threads.clear();
  }

  const HeapCounters after = HeapProfiler::counters();
  const std::size_t blocks_after = table_blocks();
  const std::int64_t inuse_after = HeapProfiler::snapshot().total_inuse_bytes();
  HeapProfiler::set_exact_mode(false);
  HeapProfiler::stop();
  HeapProfiler::set_sample_rate(HeapProfiler::kDefaultSampleRate);

  ASSERT_NE(child_status, -1) << "fork child deadlocked";
  EXPECT_TRUE(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0) << child_status;
  const std::uint64_t allocated = after.allocated_objects - before.allocated_objects;
  const std::uint64_t freed = after.freed_objects - before.freed_objects;
  EXPECT_GE(allocated, static_cast<std::uint64_t>(kThreads) * kGenerations * kOpsPerThread / 2);
  // allocated - freed = live, and the workload left nothing live: only the
  // test's own bookkeeping (thread objects, snapshots) may differ.
  EXPECT_EQ(after.allocated_bytes - after.freed_bytes, after.live_bytes);
  EXPECT_LT(allocated - freed, 200u);
  const auto live_delta = static_cast<std::int64_t>(after.live_bytes) -
                          static_cast<std::int64_t>(before.live_bytes);
  EXPECT_LT(std::llabs(live_delta), 1 << 20);
  EXPECT_LT(blocks_after, blocks_before + 200);
  EXPECT_LT(std::llabs(inuse_after - inuse_before), 1 << 20);
  EXPECT_GT(after.samples - before.samples, 1000u);
}

}  // namespace
}  // namespace syncscope::prof
