// The conformance suite: the semantics of every operation of the common map
// API (concurrent_map.h, DESIGN §2), written once as a TYPED_TEST_SUITE_P and
// instantiated for all five maps in map_conformance_test.cc.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/map_types.h"
#include "conformance/test_support.h"

namespace syncscope::map::testing {

template <class Family>
class MapConformanceTest : public ::testing::Test {
 protected:
  using M = typename Family::template Map<std::int64_t, std::int64_t>;
  std::unique_ptr<M> map_ = Family::template make<std::int64_t, std::int64_t>();
  M& m() { return *map_; }

  std::map<std::int64_t, std::int64_t> contents() {
    std::map<std::int64_t, std::int64_t> out;
    m().range([&](const std::int64_t& k, const std::int64_t& v) {
      EXPECT_TRUE(out.emplace(k, v).second) << "range visited key " << k << " twice";
      return true;
    });
    return out;
  }
};

TYPED_TEST_SUITE_P(MapConformanceTest);

TYPED_TEST_P(MapConformanceTest, Load_OnEmptyMap_ReturnsNullopt) {
  EXPECT_EQ(this->m().load(1), std::nullopt);
  EXPECT_EQ(this->m().size(), 0u);
  EXPECT_EQ(this->m().exact_size(), 0u);
}

TYPED_TEST_P(MapConformanceTest, Store_ThenLoad_ReturnsLatestValue) {
  this->m().store(1, 10);
  EXPECT_EQ(this->m().load(1), 10);
  this->m().store(1, 11);  // overwrite
  EXPECT_EQ(this->m().load(1), 11);
  std::int64_t v = 12;
  this->m().store(2, std::move(v));  // rvalue overload
  EXPECT_EQ(this->m().load(2), 12);
  EXPECT_EQ(this->m().load(3), std::nullopt);
}

TYPED_TEST_P(MapConformanceTest, LoadOrStore_StoresWhenAbsent_LoadsWhenPresent) {
  auto first = this->m().load_or_store(1, 10);
  EXPECT_FALSE(first.loaded);
  EXPECT_EQ(first.value, 10);
  auto second = this->m().load_or_store(1, 20);
  EXPECT_TRUE(second.loaded);
  EXPECT_EQ(second.value, 10);  // the existing value, not the offered one
  EXPECT_EQ(this->m().load(1), 10);
  // After a delete the key is absent again.
  EXPECT_TRUE(this->m().erase(1));
  auto third = this->m().load_or_store(1, 30);
  EXPECT_FALSE(third.loaded);
  EXPECT_EQ(third.value, 30);
}

TYPED_TEST_P(MapConformanceTest, LoadAndDelete_ReturnsRemovedValueOnce) {
  this->m().store(1, 10);
  EXPECT_EQ(this->m().load_and_delete(1), 10);
  EXPECT_EQ(this->m().load_and_delete(1), std::nullopt);
  EXPECT_EQ(this->m().load(1), std::nullopt);
}

TYPED_TEST_P(MapConformanceTest, Erase_ReturnsWhetherAValueWasRemoved) {
  EXPECT_FALSE(this->m().erase(1));
  this->m().store(1, 10);
  EXPECT_TRUE(this->m().erase(1));
  EXPECT_FALSE(this->m().erase(1));
  EXPECT_EQ(this->m().load(1), std::nullopt);
}

TYPED_TEST_P(MapConformanceTest, Swap_ReturnsPreviousValue) {
  EXPECT_EQ(this->m().swap(1, 10), std::nullopt);  // absent: stores, no previous
  EXPECT_EQ(this->m().load(1), 10);
  EXPECT_EQ(this->m().swap(1, 11), 10);
  EXPECT_EQ(this->m().load(1), 11);
  this->m().erase(1);
  EXPECT_EQ(this->m().swap(1, 12), std::nullopt);  // deleted counts as absent
}

TYPED_TEST_P(MapConformanceTest, CompareAndSwap_SwapsOnlyWhenEqual) {
  EXPECT_FALSE(this->m().compare_and_swap(1, 0, 5));  // absent key never matches
  EXPECT_EQ(this->m().load(1), std::nullopt);
  this->m().store(1, 10);
  EXPECT_FALSE(this->m().compare_and_swap(1, 9, 20));  // unequal
  EXPECT_EQ(this->m().load(1), 10);
  EXPECT_TRUE(this->m().compare_and_swap(1, 10, 20));  // equal
  EXPECT_EQ(this->m().load(1), 20);
  EXPECT_TRUE(this->m().compare_and_swap(1, 20, 20));  // equal, same value
  EXPECT_EQ(this->m().load(1), 20);
}

TYPED_TEST_P(MapConformanceTest, CompareAndDelete_DeletesOnlyWhenEqual) {
  EXPECT_FALSE(this->m().compare_and_delete(1, 0));
  this->m().store(1, 10);
  EXPECT_FALSE(this->m().compare_and_delete(1, 11));
  EXPECT_EQ(this->m().load(1), 10);
  EXPECT_TRUE(this->m().compare_and_delete(1, 10));
  EXPECT_EQ(this->m().load(1), std::nullopt);
  EXPECT_FALSE(this->m().compare_and_delete(1, 10));
}

TYPED_TEST_P(MapConformanceTest, Range_VisitsEveryKeyExactlyOnce) {
  std::map<std::int64_t, std::int64_t> expected;
  for (std::int64_t k = 0; k < 500; ++k) {
    this->m().store(k, k * 7);
    expected[k] = k * 7;
  }
  for (std::int64_t k = 0; k < 500; k += 3) {
    this->m().erase(k);
    expected.erase(k);
  }
  EXPECT_EQ(this->contents(), expected);
}

TYPED_TEST_P(MapConformanceTest, Range_StopsWhenCallbackReturnsFalse) {
  for (std::int64_t k = 0; k < 100; ++k) this->m().store(k, k);
  int calls = 0;
  this->m().range([&](const std::int64_t&, const std::int64_t&) { return ++calls < 5; });
  EXPECT_EQ(calls, 5);
  calls = 0;
  this->m().range([&](const std::int64_t&, const std::int64_t&) {
    ++calls;
    return false;
  });
  EXPECT_EQ(calls, 1);
}

TYPED_TEST_P(MapConformanceTest, Range_VoidCallback_VisitsAll) {
  for (std::int64_t k = 0; k < 100; ++k) this->m().store(k, k);
  int calls = 0;
  this->m().range([&](const std::int64_t&, const std::int64_t&) { ++calls; });
  EXPECT_EQ(calls, 100);
}

TYPED_TEST_P(MapConformanceTest, Range_CallbackCallsSameMap_DoesNotDeadlock) {
  auto& m = this->m();
  for (std::int64_t k = 0; k < 64; ++k) m.store(k, k);
  // Promote/rebuild paths for ReadMostlyMap: loads of dirty keys, then a new key.
  for (int i = 0; i < 200; ++i) (void)m.load(i % 64);
  std::set<std::int64_t> visited;
  run_with_deadline("range callback re-entering the map", std::chrono::seconds(30), [&] {
    m.range([&](const std::int64_t& k, const std::int64_t& v) {
      EXPECT_TRUE(visited.insert(k).second) << "key " << k << " visited twice";
      // Keys 0..63 are written only by their own callback, after their
      // visit, so the visited value is the original one.
      if (k < 64) {
        EXPECT_EQ(v, k);
      }
      m.store(k, v + 1000);                  // overwrite the visited key
      m.store(1000 + k, k);                  // a new key (may or may not be visited)
      m.erase(k + 1);                        // delete a later key
      (void)m.load_or_store(2000 + k, k);
      (void)m.visit(k, [](const std::int64_t&) {});
      (void)m.size();
      return true;
    });
  });
  // Every key visited was stored before the range and not erased before its
  // turn; key 0 is never erased, so it is always visited.
  EXPECT_TRUE(visited.count(0));
  EXPECT_EQ(m.load(0), 1000);
  // The map still works and is self-consistent after the re-entrant range.
  EXPECT_EQ(m.exact_size(), this->contents().size());
}

TYPED_TEST_P(MapConformanceTest, Range_NestedRange_DoesNotDeadlock) {
  auto& m = this->m();
  for (std::int64_t k = 0; k < 16; ++k) m.store(k, k);
  std::size_t inner_total = 0;
  run_with_deadline("nested range", std::chrono::seconds(30), [&] {
    m.range([&](const std::int64_t&, const std::int64_t&) {
      m.range([&](const std::int64_t&, const std::int64_t&) { ++inner_total; });
    });
  });
  EXPECT_EQ(inner_total, 16u * 16u);
}

TYPED_TEST_P(MapConformanceTest, Clear_RemovesEveryKey) {
  for (std::int64_t k = 0; k < 300; ++k) this->m().store(k, k);
  this->m().clear();
  EXPECT_EQ(this->m().size(), 0u);
  EXPECT_EQ(this->m().exact_size(), 0u);
  EXPECT_TRUE(this->contents().empty());
  for (std::int64_t k = 0; k < 300; ++k) ASSERT_EQ(this->m().load(k), std::nullopt) << k;
  // Usable after clear.
  this->m().store(5, 50);
  EXPECT_EQ(this->m().load(5), 50);
  EXPECT_EQ(this->m().size(), 1u);
  this->m().clear();
  this->m().clear();  // clearing an empty map is fine
  EXPECT_EQ(this->m().exact_size(), 0u);
}

TYPED_TEST_P(MapConformanceTest, Visit_ReportsFoundAndNotFound) {
  int calls = 0;
  EXPECT_FALSE(this->m().visit(1, [&](const std::int64_t&) { ++calls; }));
  EXPECT_EQ(calls, 0);
  this->m().store(1, 10);
  std::int64_t seen = 0;
  EXPECT_TRUE(this->m().visit(1, [&](const std::int64_t& v) {
    ++calls;
    seen = v;
  }));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, 10);
  this->m().erase(1);
  EXPECT_FALSE(this->m().visit(1, [&](const std::int64_t&) { ++calls; }));
  EXPECT_EQ(calls, 1);
}

TYPED_TEST_P(MapConformanceTest, Size_AtQuiescence_EqualsExactSize) {
  auto& m = this->m();
  std::size_t expected = 0;
  for (std::int64_t k = 0; k < 1000; ++k) {
    m.store(k, k);
    ++expected;
    if (k % 100 == 0) (void)m.load(k);  // exercise promotion for ReadMostlyMap
  }
  EXPECT_EQ(m.size(), expected);
  EXPECT_EQ(m.exact_size(), expected);
  for (std::int64_t k = 0; k < 1000; k += 2) {
    ASSERT_TRUE(m.erase(k));
    --expected;
  }
  (void)m.load_and_delete(1);
  --expected;
  (void)m.compare_and_delete(3, 3);
  --expected;
  (void)m.load_or_store(5000, 1);
  ++expected;
  (void)m.swap(5001, 1);
  ++expected;
  m.store(7, 70);  // overwrite: no change
  for (int i = 0; i < 5000; ++i) (void)m.load(i % 1200);  // promotions, misses
  EXPECT_EQ(m.size(), expected);
  EXPECT_EQ(m.exact_size(), expected);
  EXPECT_EQ(static_cast<std::size_t>(m.stats().live_entries), expected);
}

TYPED_TEST_P(MapConformanceTest, Stats_CountHitsAndNameTheKind) {
  auto& m = this->m();
  const MapStats before = m.stats();
  EXPECT_EQ(before.kind, TypeParam::kName);
  EXPECT_EQ(before.hits, 0u);
  EXPECT_EQ(before.live_entries, 0);
  for (std::int64_t k = 0; k < 10; ++k) m.store(k, k);
  for (int round = 0; round < 100; ++round) {
    for (std::int64_t k = 0; k < 10; ++k) ASSERT_EQ(m.load(k), k);
  }
  const MapStats after = m.stats();
  // 1000 successful loads; ReadMostlyMap answers at most len(dirty)=10 of
  // them from the dirty map before promoting, every other map counts all.
  EXPECT_GE(after.hits, 990u);
  EXPECT_LE(after.hits, 1000u);
  EXPECT_EQ(after.live_entries, 10);
  // Counters are monotonic.
  for (std::int64_t k = 100; k < 110; ++k) (void)m.load(k);
  const MapStats later = m.stats();
  EXPECT_GE(later.hits, after.hits);
  EXPECT_GE(later.misses, after.misses);
}

TYPED_TEST_P(MapConformanceTest, StringKeysAndValues_Work) {
  auto sm = TypeParam::template make<std::string, std::string>();
  sm->store("alpha", std::string(100, 'a'));  // heap-allocated values
  sm->store("beta", "b");
  EXPECT_EQ(sm->load("alpha"), std::string(100, 'a'));
  EXPECT_EQ(sm->swap("beta", "bb"), "b");
  EXPECT_TRUE(sm->compare_and_swap("beta", "bb", "bbb"));
  EXPECT_EQ(sm->load_or_store("beta", "x").value, "bbb");
  EXPECT_TRUE(sm->compare_and_delete("beta", "bbb"));
  EXPECT_EQ(sm->exact_size(), 1u);
  sm->clear();
  EXPECT_EQ(sm->load("alpha"), std::nullopt);
}

REGISTER_TYPED_TEST_SUITE_P(MapConformanceTest, Load_OnEmptyMap_ReturnsNullopt,
                            Store_ThenLoad_ReturnsLatestValue,
                            LoadOrStore_StoresWhenAbsent_LoadsWhenPresent,
                            LoadAndDelete_ReturnsRemovedValueOnce,
                            Erase_ReturnsWhetherAValueWasRemoved, Swap_ReturnsPreviousValue,
                            CompareAndSwap_SwapsOnlyWhenEqual,
                            CompareAndDelete_DeletesOnlyWhenEqual,
                            Range_VisitsEveryKeyExactlyOnce, Range_StopsWhenCallbackReturnsFalse,
                            Range_VoidCallback_VisitsAll,
                            Range_CallbackCallsSameMap_DoesNotDeadlock,
                            Range_NestedRange_DoesNotDeadlock, Clear_RemovesEveryKey,
                            Visit_ReportsFoundAndNotFound, Size_AtQuiescence_EqualsExactSize,
                            Stats_CountHitsAndNameTheKind, StringKeysAndValues_Work);

}  // namespace syncscope::map::testing
