// FlatGroupMap's own behaviour, beyond the family suites (tests/conformance/):
// which read path a key/value type gets, the growth and shrink policy
// against an independent oracle (std::map), and the two concurrent
// hazards of the design — a torn optimistic read, and a lookup that misses
// a present key while another thread rehashes the table.
#include <array>
#include <atomic>
#include <cstdint>
#include <latch>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/test_support.h"
#include "syncscope/map/flat_group_map.h"

namespace syncscope::map {
namespace {

using testing::scaled;

// Eight words written together (the largest value that reads
// optimistically); a reader that sees two different words saw a
// half-written value.
struct Wide {
  std::array<std::uint64_t, 8> words{};
  static Wide of(std::uint64_t v) {
    Wide w;
    w.words.fill(v);
    return w;
  }
  bool whole() const {
    for (std::uint64_t x : words) {
      if (x != words[0]) return false;
    }
    return true;
  }
  bool operator==(const Wide&) const = default;
};

TEST(FlatGroupMap, ReadPath_IsOptimisticExactlyForTriviallyCopyableKeysAndValues) {
  static_assert(FlatGroupMap<std::int64_t, std::int64_t>::kOptimisticReads);
  static_assert(FlatGroupMap<std::int64_t, Wide>::kOptimisticReads);
  static_assert(!FlatGroupMap<std::string, std::int64_t>::kOptimisticReads);
  static_assert(!FlatGroupMap<std::int64_t, std::string>::kOptimisticReads);
  static_assert(!FlatGroupMap<std::int64_t, std::unique_ptr<int>>::kOptimisticReads);
  SUCCEED();
}

// Grows from its 30-slot start to hold every key, shrinks once most are
// gone, and holds exactly what std::map holds at every step.
TEST(FlatGroupMap, GrowthAndShrink_KeepExactlyTheOraclesContents) {
  FlatGroupMap<std::int64_t, std::int64_t> m;
  std::map<std::int64_t, std::int64_t> oracle;
  const std::size_t initial = m.capacity();
  const std::int64_t n = 20'000;
  for (std::int64_t k = 0; k < n; ++k) {
    m.store(k * 7919, k);
    oracle[k * 7919] = k;
  }
  const std::size_t grown = m.capacity();
  EXPECT_GT(grown, initial);
  EXPECT_GE(grown * 7, static_cast<std::size_t>(n) * 8) << "more than 7/8 full";
  for (std::int64_t k = 0; k < n; ++k) {
    if (k % 50 != 0) {
      ASSERT_TRUE(m.erase(k * 7919));
      oracle.erase(k * 7919);
    }
  }
  EXPECT_LT(m.capacity(), grown / 4) << "the table did not shrink after 98% of its keys left";
  std::map<std::int64_t, std::int64_t> contents;
  m.range([&](const std::int64_t& k, const std::int64_t& v) {
    EXPECT_TRUE(contents.emplace(k, v).second) << "key " << k << " visited twice";
  });
  EXPECT_EQ(contents, oracle);
  EXPECT_EQ(m.exact_size(), oracle.size());
  EXPECT_EQ(m.size(), oracle.size());
  for (const auto& [k, v] : oracle) ASSERT_EQ(m.load(k), v);
  EXPECT_FALSE(m.load(1).has_value());
}

// Writers rewrite the values of a few keys (one group's worth, so they
// meet readers on the same seqlock) while readers load them: every value a
// reader gets is a whole pair that some writer stored. Overlap by
// construction: readers count their loads only once both writers have
// written, and writers stop only when both readers are done.
TEST(FlatGroupMap, OptimisticReads_NeverReturnATornValue) {
  FlatGroupMap<std::int64_t, Wide> m;
  constexpr std::int64_t kKeys = 8;
  for (std::int64_t k = 0; k < kKeys; ++k) m.store(k, Wide::of(0));
  const long reads = scaled(1'000'000, 100'000);
  std::latch writers_started(2);
  std::atomic<int> readers_left{2};
  std::atomic<long> torn{0};
  std::atomic<long> writes_during_reads{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      m.store(w, Wide::of(static_cast<std::uint64_t>(w)));
      writers_started.count_down();
      long i = 0;
      // acquire: pairs with the readers' release below.
      for (; readers_left.load(std::memory_order_acquire) > 0; ++i) {
        m.store(i % kKeys, Wide::of(static_cast<std::uint64_t>(i * 2 + w)));
      }
      writes_during_reads.fetch_add(i, std::memory_order_relaxed);  // relaxed: read after join
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      writers_started.wait();
      for (long i = 0; i < reads; ++i) {
        const std::optional<Wide> p = m.load(i % kKeys);
        if (!p || !p->whole()) torn.fetch_add(1, std::memory_order_relaxed);  // relaxed: counter
      }
      readers_left.fetch_sub(1, std::memory_order_release);  // release: ends the writers' loop
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(torn.load(), 0) << "a load returned a half-written value (or missed a present key)";
  EXPECT_GT(writes_during_reads.load(), 0) << "readers and writers did not overlap";
}

// One thread inserts fresh keys (one rehash after another) while others
// load keys stored before it started: a present key is never missed,
// whatever table the lookup lands in. The readers keep going until the
// table has grown 16-fold since they started, so rehashes happen during
// their loads by construction.
TEST(FlatGroupMap, LoadsDuringRehash_NeverMissAPresentKey) {
  FlatGroupMap<std::int64_t, std::int64_t> m;
  constexpr std::int64_t kStable = 64;
  for (std::int64_t k = 0; k < kStable; ++k) m.store(-1 - k, k);
  const std::size_t start_capacity = m.capacity();
  const long min_loads = scaled(100'000, 20'000);
  const std::int64_t kMaxInserts = 4'000'000;  // far beyond a 16-fold growth
  std::atomic<int> readers_left{2};
  std::atomic<long> missed{0};
  std::atomic<long> loads{0};
  std::atomic<std::int64_t> inserted{0};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    std::int64_t k = 0;
    // acquire: pairs with the readers' release below.
    for (; readers_left.load(std::memory_order_acquire) > 0 && k < kMaxInserts; ++k) m.store(k, k);
    inserted.store(k, std::memory_order_relaxed);  // relaxed: read after join
  });
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      long i = 0;
      for (; i < min_loads || m.capacity() < 16 * start_capacity; ++i) {
        const std::int64_t k = i % kStable;
        if (m.load(-1 - k) != k) missed.fetch_add(1, std::memory_order_relaxed);  // relaxed: counter
        if (i > 64 * min_loads) break;  // the inserter stopped early: fails below
      }
      loads.fetch_add(i, std::memory_order_relaxed);                // relaxed: read after join
      readers_left.fetch_sub(1, std::memory_order_release);  // release: ends the inserts
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(missed.load(), 0);
  EXPECT_GE(m.capacity(), 16 * start_capacity) << "the table did not grow during the loads";
  EXPECT_GE(loads.load(), 2 * min_loads);
  EXPECT_EQ(m.exact_size(), static_cast<std::size_t>(kStable + inserted.load()));
}

// Two threads load_or_store the same fresh keys: every key ends up stored
// once (Boost's insert counter), and exactly one call per key reports that
// it stored. Overlap by construction: each thread, halfway through, waits
// until the other has passed a quarter of the keys.
TEST(FlatGroupMap, RacingInsertsOfTheSameKey_StoreItOnce) {
  FlatGroupMap<std::int64_t, std::int64_t> m;
  const std::int64_t keys = scaled(50'000, 10'000);
  std::array<std::atomic<std::int64_t>, 2> progress{};
  std::array<std::atomic<long>, 2> stored{};
  std::array<std::atomic<bool>, 2> saw_other_running{};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      long mine = 0;
      for (std::int64_t k = 0; k < keys; ++k) {
        if (k == keys / 2) {
          // acquire: pairs with the other thread's release of its progress.
          while (progress[1 - t].load(std::memory_order_acquire) < keys / 4) std::this_thread::yield();
          saw_other_running[t].store(progress[1 - t].load(std::memory_order_acquire) < keys,
                                     std::memory_order_relaxed);  // relaxed: read after join
        }
        if (!m.load_or_store(k, t).loaded) ++mine;
        progress[t].store(k + 1, std::memory_order_release);  // release: see the wait above
      }
      stored[t].store(mine, std::memory_order_relaxed);  // relaxed: read after join
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(stored[0].load() + stored[1].load(), keys) << "a key was stored twice or never";
  EXPECT_TRUE(saw_other_running[0].load() || saw_other_running[1].load())
      << "the threads did not overlap";
  EXPECT_EQ(m.exact_size(), static_cast<std::size_t>(keys));
  std::size_t visited = 0;
  m.range([&](const std::int64_t&, const std::int64_t&) { ++visited; });
  EXPECT_EQ(visited, static_cast<std::size_t>(keys));
}

}  // namespace
}  // namespace syncscope::map
