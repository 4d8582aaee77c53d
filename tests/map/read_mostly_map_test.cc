// ReadMostlyMap-specific behaviour: the sync.Map algorithm's counters
// (misses, promotions, dirty rebuilds, expunges) move exactly as the
// algorithm says, and its reclamation diagnostics work.
#include <cstdint>

#include <gtest/gtest.h>

#include "syncscope/map/map_registry.h"
#include "syncscope/map/maps.h"
#include "syncscope/reclaim/epoch_domain.h"

namespace syncscope::map {
namespace {

using Map = ReadMostlyMap<std::int64_t, std::int64_t>;

TEST(ReadMostlyMap, LoadsOfDirtyKeys_MissUntilPromotion_ThenHit) {
  Map m;
  for (std::int64_t k = 0; k < 10; ++k) m.store(k, k);  // all in the dirty map
  for (int i = 0; i < 200; ++i) ASSERT_EQ(m.load(i % 10), i % 10);
  const MapStats s = m.stats();
  // Go's rule: promote once misses >= len(dirty) = 10.
  EXPECT_EQ(s.misses, 10u);
  EXPECT_EQ(s.promotions, 1u);
  EXPECT_EQ(s.hits, 190u);
  EXPECT_EQ(s.live_entries, 10);
}

TEST(ReadMostlyMap, LoadOfAbsentKey_WhenNotAmended_IsNotAMiss) {
  Map m;
  m.store(1, 1);
  (void)m.load(1);  // promotes (1 miss >= len(dirty) = 1)
  const MapStats before = m.stats();
  ASSERT_EQ(before.promotions, 1u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(m.load(1000 + i), std::nullopt);
  const MapStats after = m.stats();
  EXPECT_EQ(after.misses, before.misses) << "absent keys with no dirty map need no lock";
  EXPECT_EQ(after.promotions, 1u);
}

TEST(ReadMostlyMap, NewKeyAfterPromotion_RebuildsDirtyAndExpungesDeleted) {
  Map m;
  for (std::int64_t k = 0; k < 10; ++k) m.store(k, k);
  for (int i = 0; i < 20; ++i) (void)m.load(i % 10);
  const MapStats promoted = m.stats();
  ASSERT_EQ(promoted.promotions, 1u);
  // (The very first store built the initial, empty dirty map: Go's
  // dirtyLocked() runs then too, so that may count as a rebuild.)
  EXPECT_TRUE(m.erase(3));  // marks the read entry deleted
  m.store(100, 100);        // first new key after promotion: rebuild dirty from read
  MapStats s = m.stats();
  EXPECT_EQ(s.dirty_rebuilds, promoted.dirty_rebuilds + 1);
  EXPECT_EQ(s.expunges, promoted.expunges + 1) << "the deleted entry is expunged, not copied";
  // Storing to the expunged key brings it back (unexpunge) correctly.
  m.store(3, 33);
  EXPECT_EQ(m.load(3), 33);
  EXPECT_EQ(m.load(100), 100);
  for (int i = 0; i < 50; ++i) (void)m.load(100);
  s = m.stats();
  EXPECT_EQ(s.promotions, 2u);
  EXPECT_EQ(m.exact_size(), 11u);
  EXPECT_EQ(m.size(), 11u);
}

TEST(ReadMostlyMap, ReplacedValues_AreRetiredThenReclaimed) {
  Map m;
  for (std::int64_t k = 0; k < 100; ++k) m.store(k, k);
  for (int i = 0; i < 200; ++i) (void)m.load(i % 100);  // promote
  for (int round = 0; round < 10; ++round) {
    for (std::int64_t k = 0; k < 100; ++k) m.store(k, k + round);
  }
  reclaim::EpochDomain::global().drain();
  m.reclaim_now();
  const reclaim::Backlog b = m.backlog();
  EXPECT_EQ(b.objects, 0u);
  EXPECT_EQ(b.bytes, 0u);
  EXPECT_EQ(m.stats().retired_objects, 0u);
  EXPECT_TRUE(m.pinned_readers().empty());
  for (std::int64_t k = 0; k < 100; ++k) ASSERT_EQ(m.load(k), k + 9);
}

TEST(ReadMostlyMap, NamedMap_RegistersItsStats) {
  MapOptions options;
  options.name = "read_mostly_map_test.registered";
  bool found = false;
  {
    Map m(options);
    m.store(1, 1);
    for (const NamedMapStats& s : MapRegistry::instance().snapshot()) {
      if (s.name == options.name) {
        found = true;
        EXPECT_EQ(s.stats.kind, "ReadMostlyMap");
        EXPECT_EQ(s.stats.live_entries, 1);
      }
    }
  }
  EXPECT_TRUE(found);
  for (const NamedMapStats& s : MapRegistry::instance().snapshot()) {
    EXPECT_NE(s.name, options.name) << "map still registered after destruction";
  }
}

}  // namespace
}  // namespace syncscope::map
