// PooledShardedMap-specific behaviour: nodes are recycled through per-thread
// free lists, and the lists never grow past max_cached_nodes_per_thread, under
// any churn (the Go sync.Pool lesson: a pool must not become a leak).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/test_support.h"
#include "syncscope/map/maps.h"

namespace syncscope::map {
namespace {

using Map = PooledShardedMap<std::int64_t, std::int64_t>;
// Maps live on the heap: g++ 12 -O2 reports a false maybe-uninitialized in
// internal/registration.h for a stack-allocated PooledShardedMap.
using syncscope::map::testing::scaled;

PooledMapOptions small_pool(std::size_t max_cached) {
  PooledMapOptions o;
  o.shards = 8;
  Map::set_max_cached_nodes_per_thread(max_cached);
  return o;
}

TEST(PooledShardedMap, EraseThenStore_ReusesNodes) {
  auto map = std::make_unique<Map>(small_pool(16));
  Map& m = *map;
  for (std::int64_t k = 0; k < 10; ++k) m.store(k, k);
  const MapStats first = m.stats();
  EXPECT_EQ(first.pool_allocations, 10u);
  EXPECT_EQ(first.pool_reuses, 0u);
  for (std::int64_t k = 0; k < 10; ++k) ASSERT_TRUE(m.erase(k));
  EXPECT_EQ(m.stats().pool_cached_nodes, 10u);
  for (std::int64_t k = 100; k < 110; ++k) m.store(k, k);
  const MapStats second = m.stats();
  EXPECT_EQ(second.pool_reuses, 10u);
  EXPECT_EQ(second.pool_allocations, 10u);
  EXPECT_EQ(second.pool_cached_nodes, 0u);
  EXPECT_EQ(m.exact_size(), 10u);
}

TEST(PooledShardedMap, SingleThreadChurn_PoolStaysBounded) {
  constexpr std::size_t kMax = 32;
  auto map = std::make_unique<Map>(small_pool(kMax));
  Map& m = *map;
  for (std::int64_t k = 0; k < 5000; ++k) m.store(k, k);
  for (std::int64_t k = 0; k < 5000; ++k) ASSERT_TRUE(m.erase(k));
  EXPECT_LE(m.stats().pool_cached_nodes, kMax) << "erasing 5000 keys overfilled the free list";
  m.clear();
  EXPECT_LE(m.stats().pool_cached_nodes, kMax);
}

TEST(PooledShardedMap, MultiThreadChurn_PoolBoundedByThreadsTimesMax) {
  constexpr std::size_t kMax = 16;
  constexpr int kThreads = 4;
  const long rounds = scaled(20'000, 2'000);
  auto map = std::make_unique<Map>(small_pool(kMax));
  Map& m = *map;
  // Nodes the main thread's list already holds: an earlier test in this
  // process may have left up to its own (larger) limit there.
  const std::uint64_t main_cached = std::max<std::uint64_t>(m.stats().pool_cached_nodes, kMax);
  std::atomic<std::uint64_t> worst{0};
  // Overlap is forced, then checked: all threads start together (latch),
  // and none passes the middle of its churn before every thread has reached
  // it (a bounded rendezvous), so the second halves run side by side and
  // nodes really cross threads. `inside` counts threads in the churn loop;
  // its observed maximum must reach kThreads, which fails if the threads
  // run one after another.
  std::latch start(kThreads);
  std::atomic<int> inside{0};
  std::atomic<int> most_inside{0};
  std::atomic<int> at_middle{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      // relaxed: the counters are a gauge read after join (join orders them).
      const int now_inside = inside.fetch_add(1, std::memory_order_relaxed) + 1;
      int seen = most_inside.load(std::memory_order_relaxed);
      while (now_inside > seen && !most_inside.compare_exchange_weak(seen, now_inside, std::memory_order_relaxed)) {
      }
      for (long i = 0; i < rounds; ++i) {
        if (i == rounds / 2) {
          // acq_rel/acquire: only a count; the map's own locks order the data.
          at_middle.fetch_add(1, std::memory_order_acq_rel);
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          while (at_middle.load(std::memory_order_acquire) < kThreads &&
                 std::chrono::steady_clock::now() < deadline) {
            std::this_thread::yield();
          }
        }
        // Bursts: store 64 keys of this thread's block, then erase 64 keys
        // of the next thread's block, so nodes allocated on one thread are
        // freed (and cached) on another.
        const std::int64_t slot = (i / 2) % 8;
        if (i % 2 == 0) {
          const std::int64_t base = slot * 1000 + t * 100;
          for (std::int64_t k = 0; k < 64; ++k) m.store(base + k, k);
        } else {
          const std::int64_t base = slot * 1000 + ((t + 1) % kThreads) * 100;
          for (std::int64_t k = 0; k < 64; ++k) (void)m.erase(base + k);
        }
        if (i % 64 == 0) {
          const std::uint64_t cached = m.stats().pool_cached_nodes;
          std::uint64_t w = worst.load(std::memory_order_relaxed);  // relaxed: a max gauge
          while (cached > w && !worst.compare_exchange_weak(w, cached, std::memory_order_relaxed)) {
          }
        }
      }
      inside.fetch_sub(1, std::memory_order_relaxed);
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(most_inside.load(), kThreads) << "the churn threads never all ran at once";
  const MapStats s = m.stats();
  // The workers' lists plus the main thread's.
  EXPECT_LE(worst.load(), kThreads * kMax + main_cached);
  EXPECT_LE(s.pool_cached_nodes, kThreads * kMax + main_cached);
  EXPECT_GT(s.pool_reuses, 0u) << "churn never reused a node";
  EXPECT_EQ(m.size(), m.exact_size());
}

}  // namespace
}  // namespace syncscope::map
