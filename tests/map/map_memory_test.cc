// Memory: storing and erasing 10^6 distinct keys returns the live heap to
// its baseline within a bounded number of extra operations; a reader pinned
// inside a range callback holds memory back, is reported (thread id, name,
// backlog), and the backlog drains once it leaves.
//
// Live bytes come from the test-local operator new/delete in counting_new.cc
// (this executable does not link syncscope::prof). Between taking a baseline
// and measuring, the tests allocate nothing themselves (no SCOPED_TRACE, no
// strings), so the difference is the map's.
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <latch>
#include <optional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/map_types.h"
#include "conformance/test_support.h"
#include "map/counting_new.h"
#include "syncscope/reclaim/epoch_domain.h"

namespace syncscope::map::testing {
namespace {

// 10^6 keys in the normal build; fewer under sanitizers (same code paths).
const std::int64_t kKeys = scaled(1'000'000, 100'000);
// The extra operations settle() may spend before measuring (misses that make
// ReadMostlyMap promote/compact; a store+erase that triggers a rebuild).
constexpr int kSettleOps = 1'000;
// Allowed residue over the baseline after settling: per-thread counter
// stripes, an empty table's minimum capacity, a node pool's bounded cache
// (PooledShardedMap: max_cached_nodes_per_thread nodes). Measured residue is
// printed by every test; it is far below this in practice.
constexpr std::int64_t kResidueBound = 64 * 1024;

template <class M>
void settle(M& m) {
  constexpr std::int64_t kProbe = -1'000'000;
  m.store(kProbe, 1);
  for (int i = 0; i < kSettleOps; ++i) (void)m.load(kProbe - i % 4);
  (void)m.erase(kProbe);
  for (int i = 0; i < kSettleOps; ++i) (void)m.load(kProbe - i % 4);
  if constexpr (requires { m.reclaim_now(); }) m.reclaim_now();
  reclaim::EpochDomain::global().drain();
}

// Warms up everything a first operation allocates once per thread or per
// process (counter stripes, the thread's epoch record), then returns the
// baseline.
template <class M>
std::int64_t baseline(M& m) {
  m.store(0, 0);
  (void)m.erase(0);
  settle(m);
  return live_heap_bytes();
}

int current_tid() { return static_cast<int>(::syscall(SYS_gettid)); }

template <class Family>
class MapMemoryTest : public ::testing::Test {};
TYPED_TEST_SUITE(MapMemoryTest, AllMapFamilies, FamilyName);

TYPED_TEST(MapMemoryTest, StoreThenEraseEach_ReturnsToBaseline) {
  auto m = TypeParam::template make<std::int64_t, std::int64_t>();
  const std::int64_t base = baseline(*m);
  std::int64_t peak = 0;
  for (std::int64_t k = 1; k <= kKeys; ++k) {
    m->store(k, k);
    ASSERT_TRUE(m->erase(k));
    if ((k & 0xffff) == 0) peak = std::max(peak, live_heap_bytes() - base);
  }
  settle(*m);
  const std::int64_t residue = live_heap_bytes() - base;
  std::printf("[ info ] %s store-then-erase %lld keys: peak +%lld B, residue %+lld B\n",
              TypeParam::kName, static_cast<long long>(kKeys), static_cast<long long>(peak),
              static_cast<long long>(residue));
  EXPECT_LE(residue, kResidueBound);
  // Bounded during the churn as well: never more than a few MB for a map
  // that holds at most one key.
  EXPECT_LE(peak, 4 * 1024 * 1024);
  EXPECT_EQ(m->exact_size(), 0u);
}

TYPED_TEST(MapMemoryTest, StoreAllThenEraseAll_ReturnsToBaseline) {
  auto m = TypeParam::template make<std::int64_t, std::int64_t>();
  const std::int64_t base = baseline(*m);
  for (std::int64_t k = 1; k <= kKeys; ++k) m->store(k, k);
  const std::int64_t full = live_heap_bytes() - base;
  for (std::int64_t k = 1; k <= kKeys; ++k) ASSERT_TRUE(m->erase(k));
  const std::int64_t erased = live_heap_bytes() - base;
  settle(*m);
  const std::int64_t residue = live_heap_bytes() - base;
  std::printf("[ info ] %s store-all-then-erase-all %lld keys: full +%lld B, after erase "
              "+%lld B, residue after settle %+lld B\n",
              TypeParam::kName, static_cast<long long>(kKeys), static_cast<long long>(full),
              static_cast<long long>(erased), static_cast<long long>(residue));
  EXPECT_GT(full, kKeys * 16) << "the counting hook did not see the map's allocations";
  EXPECT_LE(residue, kResidueBound) << "erased keys keep memory after " << kSettleOps * 2
                                    << " extra operations and a drain";
  EXPECT_EQ(m->exact_size(), 0u);
}

TYPED_TEST(MapMemoryTest, OverwriteSameKeys_ReturnsToBaseline) {
  // Replaced values (ReadMostlyMap: retired value boxes) must be freed too.
  auto m = TypeParam::template make<std::int64_t, std::int64_t>();
  const std::int64_t base = baseline(*m);
  for (std::int64_t i = 0; i < kKeys; ++i) m->store(i % 1000, i);
  for (std::int64_t k = 0; k < 1000; ++k) ASSERT_TRUE(m->erase(k));
  settle(*m);
  const std::int64_t residue = live_heap_bytes() - base;
  std::printf("[ info ] %s overwrite %lld times: residue %+lld B\n", TypeParam::kName,
              static_cast<long long>(kKeys), static_cast<long long>(residue));
  EXPECT_LE(residue, kResidueBound);
}

// Replace-writes of existing keys (store, swap, compare_and_swap) with
// word-sized values allocate nothing on any map: ReadMostlyMap changes the
// value inside its box, the lock-based maps assign into the table's slot.
// The oracle is the counting operator new of this executable.
TYPED_TEST(MapMemoryTest, ReplaceWritesOfExistingKeys_AllocateNothing) {
  constexpr std::int64_t kSmallKeys = 64;
  constexpr int kRounds = 200;
  auto m = TypeParam::template make<std::int64_t, std::int64_t>();
  for (std::int64_t k = 0; k < kSmallKeys; ++k) m->store(k, 0);
  for (std::int64_t k = 0; k < 4 * kSmallKeys; ++k) (void)m->load(k % kSmallKeys);  // promote
  (void)m->swap(0, 0);  // first writes fill per-thread slots (counters, reserved nodes)
  const std::int64_t before = total_allocations();
  for (int round = 1; round <= kRounds; ++round) {
    for (std::int64_t k = 0; k < kSmallKeys; ++k) {
      m->store(k, 3 * round);
      ASSERT_EQ(m->swap(k, 3 * round + 1), std::optional<std::int64_t>(3 * round));
      ASSERT_TRUE(m->compare_and_swap(k, 3 * round + 1, 3 * round + 2));
    }
  }
  const std::int64_t allocations = total_allocations() - before;
  std::printf("[ info ] %s %lld replace-writes: %lld allocations\n", TypeParam::kName,
              static_cast<long long>(3 * kRounds * kSmallKeys),
              static_cast<long long>(allocations));
  EXPECT_EQ(allocations, 0);
  for (std::int64_t k = 0; k < kSmallKeys; ++k) ASSERT_EQ(m->load(k), 3 * kRounds + 2);
}

TYPED_TEST(MapMemoryTest, MapDestruction_FreesEverything) {
  const std::int64_t before = live_heap_bytes();
  {
    auto m = TypeParam::template make<std::int64_t, std::int64_t>();
    for (std::int64_t k = 0; k < 10'000; ++k) m->store(k, k);
    for (std::int64_t k = 0; k < 10'000; k += 2) (void)m->erase(k);
    for (std::int64_t k = 0; k < 10'000; ++k) (void)m->load(k);
  }
  reclaim::EpochDomain::global().drain();
  const std::int64_t residue = live_heap_bytes() - before;
  std::printf("[ info ] %s destroyed: residue %+lld B\n", TypeParam::kName,
              static_cast<long long>(residue));
  // Per-thread records and counter stripes may stay (recycled, bounded).
  EXPECT_LE(residue, kResidueBound);
}

TEST(ReadMostlyMapMemory, PinnedReader_HoldsBacklog_ReportedAndDrainedAfterLeaving) {
  using M = ReadMostlyFamily::Map<std::int64_t, std::int64_t>;
  M m;
  m.store(-1, -1);  // the key the reader's range callback blocks on
  // Warm-up: a thread that pins and exits leaves a recycled epoch record, so
  // the reader below allocates nothing that outlives it.
  std::thread([&] { m.range([](const std::int64_t&, const std::int64_t&) {}); }).join();
  const std::int64_t base = baseline(m);

  std::latch entered(1);
  std::latch leave(1);
  std::atomic<int> reader_tid{0};
  std::thread reader([&] {
    pthread_setname_np(pthread_self(), "pinned-reader");
    // relaxed: published to the main thread by the latch below.
    reader_tid.store(current_tid(), std::memory_order_relaxed);
    m.range([&](const std::int64_t&, const std::int64_t&) {
      entered.count_down();
      leave.wait();  // blocked inside the callback: pinned
      return false;
    });
  });
  entered.wait();

  const std::int64_t churn = kKeys / 10;
  for (std::int64_t k = 1; k <= churn; ++k) {
    m.store(k, k);
    ASSERT_TRUE(m.erase(k));
  }
  const reclaim::Backlog left = reclaim::EpochDomain::global().drain();
  const reclaim::Backlog backlog = m.backlog();
  const std::int64_t held = live_heap_bytes() - base;
  const std::vector<reclaim::PinnedReader> pinned = m.pinned_readers();
  const MapStats stats = m.stats();

  leave.count_down();
  reader.join();

  std::printf("[ info ] pinned reader: backlog %llu objects / %llu B, live heap +%lld B, "
              "%zu pinned thread(s)\n",
              static_cast<unsigned long long>(backlog.objects),
              static_cast<unsigned long long>(backlog.bytes), static_cast<long long>(held),
              pinned.size());
  EXPECT_GT(left.objects, 0u) << "drain() freed memory a pinned reader may still see";
  EXPECT_GT(backlog.objects, 0u);
  EXPECT_GT(backlog.bytes, 0u);
  EXPECT_GT(held, 0) << "nothing is held back while a reader is pinned";
  EXPECT_GE(stats.retired_objects, backlog.objects);
  EXPECT_GE(stats.pinned_readers, 1u);
  bool found = false;
  for (const reclaim::PinnedReader& r : pinned) {
    if (r.tid != reader_tid.load(std::memory_order_relaxed)) continue;
    found = true;
    EXPECT_EQ(r.thread_name, "pinned-reader");
    EXPECT_GT(r.held_back.objects, 0u);
  }
  EXPECT_TRUE(found) << "the blocked reader's tid is not in pinned_readers()";

  // The reader has left: everything drains, and the heap returns to baseline.
  settle(m);
  const reclaim::Backlog after = m.backlog();
  const std::int64_t residue = live_heap_bytes() - base;
  std::printf("[ info ] after the reader left: backlog %llu objects, residue %+lld B\n",
              static_cast<unsigned long long>(after.objects), static_cast<long long>(residue));
  EXPECT_EQ(after.objects, 0u);
  EXPECT_EQ(after.bytes, 0u);
  EXPECT_TRUE(m.pinned_readers().empty());
  EXPECT_LE(residue, kResidueBound);
}

TEST(PooledShardedMapMemory, ChurnAcrossThreads_PoolAndHeapBounded) {
  using M = PooledShardedFamily::Map<std::int64_t, std::int64_t>;
  constexpr int kThreads = 4;
  auto m = PooledShardedFamily::make<std::int64_t, std::int64_t>();
  const std::int64_t base = baseline(*m);
  std::vector<std::thread> threads;
  const std::int64_t per_thread = kKeys / kThreads / 4;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::int64_t first = 10'000'000LL * (t + 1);
      for (std::int64_t i = 0; i < per_thread; i += 256) {
        for (std::int64_t k = 0; k < 256; ++k) m->store(first + i + k, k);
        for (std::int64_t k = 0; k < 256; ++k) (void)m->erase(first + i + k);
      }
    });
  }
  for (auto& th : threads) th.join();
  const MapStats s = m->stats();
  settle(*m);
  const std::int64_t residue = live_heap_bytes() - base;
  std::printf("[ info ] PooledShardedMap churn: %llu cached nodes, residue %+lld B\n",
              static_cast<unsigned long long>(s.pool_cached_nodes),
              static_cast<long long>(residue));
  EXPECT_LE(s.pool_cached_nodes, (kThreads + 1) * kTestMaxCachedNodes);
  EXPECT_GT(s.pool_reuses, 0u);
  // The exited threads' free lists must not leak either.
  EXPECT_LE(residue, kResidueBound);
  static_cast<void>(sizeof(M));
}

}  // namespace
}  // namespace syncscope::map::testing
