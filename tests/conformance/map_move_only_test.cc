// Move-only values (DESIGN §2): store(k, V&&), visit, erase, range, clear,
// size and exact_size work with std::unique_ptr values, and every value is
// destroyed exactly once (counted with a move-only tracked type).
#include <atomic>
#include <cstdint>
#include <memory>
#include <set>

#include <gtest/gtest.h>

#include "conformance/map_types.h"
#include "syncscope/reclaim/epoch_domain.h"

namespace syncscope::map::testing {
namespace {

// Move-only; counts live instances that own a payload.
struct Tracked {
  static inline std::atomic<long> live{0};
  std::unique_ptr<int> payload;
  explicit Tracked(int v) : payload(std::make_unique<int>(v)) {
    live.fetch_add(1, std::memory_order_relaxed);  // relaxed: a counter read after joins
  }
  Tracked(Tracked&& o) noexcept = default;
  Tracked& operator=(Tracked&& o) noexcept {
    if (payload) live.fetch_sub(1, std::memory_order_relaxed);  // relaxed: counter
    payload = std::move(o.payload);
    return *this;
  }
  ~Tracked() {
    if (payload) live.fetch_sub(1, std::memory_order_relaxed);  // relaxed: counter
  }
};

template <class Family>
class MapMoveOnlyTest : public ::testing::Test {};
TYPED_TEST_SUITE(MapMoveOnlyTest, AllMapFamilies, FamilyName);

TYPED_TEST(MapMoveOnlyTest, UniquePtrValues_WorkThroughVisitRangeErase) {
  auto m = TypeParam::template make<std::int64_t, std::unique_ptr<int>>();
  for (int k = 0; k < 100; ++k) m->store(k, std::make_unique<int>(k * 10));
  int seen = -1;
  EXPECT_TRUE(m->visit(7, [&](const std::unique_ptr<int>& p) { seen = *p; }));
  EXPECT_EQ(seen, 70);
  EXPECT_FALSE(m->visit(1000, [&](const std::unique_ptr<int>&) { seen = -2; }));
  EXPECT_EQ(seen, 70);
  m->store(7, std::make_unique<int>(71));  // overwrite with a new pointer
  EXPECT_TRUE(m->visit(7, [&](const std::unique_ptr<int>& p) { seen = *p; }));
  EXPECT_EQ(seen, 71);
  EXPECT_TRUE(m->erase(8));
  EXPECT_FALSE(m->erase(8));
  std::set<std::int64_t> keys;
  long sum = 0;
  m->range([&](const std::int64_t& k, const std::unique_ptr<int>& p) {
    EXPECT_TRUE(keys.insert(k).second);
    sum += *p;
    return true;
  });
  EXPECT_EQ(keys.size(), 99u);
  EXPECT_EQ(sum, 49500 - 80 + 1);  // sum of k*10, minus key 8, key 7 now 71
  EXPECT_EQ(m->size(), 99u);
  EXPECT_EQ(m->exact_size(), 99u);
  m->clear();
  EXPECT_EQ(m->exact_size(), 0u);
}

TYPED_TEST(MapMoveOnlyTest, TrackedValues_AreDestroyedExactlyOnce) {
  ASSERT_EQ(Tracked::live.load(), 0);
  {
    auto m = TypeParam::template make<std::int64_t, Tracked>();
    for (int round = 0; round < 3; ++round) {
      for (int k = 0; k < 200; ++k) m->store(k, Tracked(k));  // overwrites after round 0
      for (int i = 0; i < 400; ++i) (void)m->visit(i % 200, [](const Tracked&) {});
    }
    for (int k = 0; k < 200; k += 2) EXPECT_TRUE(m->erase(k));
    int visited = 0;
    m->range([&](const std::int64_t& k, const Tracked& t) {
      EXPECT_EQ(*t.payload, k);
      ++visited;
    });
    EXPECT_EQ(visited, 100);
    // Replaced and erased values may wait for reclamation, but never exceed
    // what was ever stored, and live values are all still there.
    EXPECT_GE(Tracked::live.load(), 100);
  }
  reclaim::EpochDomain::global().drain();
  EXPECT_EQ(Tracked::live.load(), 0) << "values leaked or destroyed twice";
}

}  // namespace
}  // namespace syncscope::map::testing
