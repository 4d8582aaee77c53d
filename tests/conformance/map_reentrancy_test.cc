// User code under a map's lock: a value whose destructor calls back into a
// map, destroyed by every write path of all five maps. The family contract
// (concurrent_map.h) says destructors of keys and values never run while the
// map holds a lock, so such a value must neither self-deadlock nor — two
// maps whose values touch each other — deadlock ABBA. Each case runs in a
// forked child with a deadline, so a regression fails instead of hanging.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <latch>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "conformance/map_types.h"
#include "conformance/test_support.h"
#include "support/forked_child.h"

namespace syncscope::map::testing {
namespace {

using test_support::run_in_child;

// Which map (if any) a value's destructor calls into: 0 none, else a slot
// of g_targets. Copies keep it; a move hands it over.
struct ReentrantValue {
  std::int64_t v = 0;
  int target = 0;

  ReentrantValue() = default;
  explicit ReentrantValue(std::int64_t x, int t = 0) : v(x), target(t) {}
  ReentrantValue(const ReentrantValue&) = default;
  ReentrantValue& operator=(const ReentrantValue&) = default;
  ReentrantValue(ReentrantValue&& o) noexcept : v(o.v), target(o.target) { o.target = 0; }
  ReentrantValue& operator=(ReentrantValue&& o) noexcept {
    reenter();  // the value being replaced is destroyed here, in effect
    v = o.v;
    target = o.target;
    o.target = 0;
    return *this;
  }
  ~ReentrantValue() { reenter(); }
  bool operator==(const ReentrantValue& o) const { return v == o.v; }

  void reenter() const;
};

// Set by a test (in its child) to the maps that destructors call into.
std::array<void (*)(), 3> g_targets{};
std::atomic<long> g_reentries{0};

void ReentrantValue::reenter() const {
  if (target == 0 || g_targets[target] == nullptr) return;
  g_reentries.fetch_add(1, std::memory_order_relaxed);  // relaxed: a counter
  g_targets[target]();
}

constexpr std::int64_t kKey = 1;
constexpr std::int64_t kSideKey = 2;
constexpr std::int64_t kAbsentKey = 3;
constexpr std::int64_t kFillerBase = 1'000'000;

template <class M>
M* g_map[3] = {};

// What a destructor does to its target map: a whole-map read (every lock of
// a lock-based map, ReadMostlyMap's mutex) and a write.
template <class M, int kSlot>
void touch_map() {
  M& m = *g_map<M>[kSlot];
  (void)m.exact_size();
  m.store(kSideKey, ReentrantValue(0));
}

enum class Path {
  kStore, kSwap, kCompareAndSwap, kErase, kLoadAndDelete, kCompareAndDelete, kClear,
  kPromotion
};
const char* to_string(Path p) {
  switch (p) {
    case Path::kStore: return "store";
    case Path::kSwap: return "swap";
    case Path::kCompareAndSwap: return "compare_and_swap";
    case Path::kErase: return "erase";
    case Path::kLoadAndDelete: return "load_and_delete";
    case Path::kCompareAndDelete: return "compare_and_delete";
    case Path::kClear: return "clear";
    case Path::kPromotion: return "promotion (load miss)";
  }
  return "?";
}

// Destroys (or retires) about kRounds values whose destructor re-enters the
// same map, through `path`. For ReadMostlyMap the key lives only in the
// dirty map (many filler keys keep misses below the promotion threshold),
// so each write takes the mutex and retires there; retiring frees earlier
// values in batches of EpochDomain::kReclaimBatch.
template <class M>
void drive(M& m, Path path) {
  const int rounds = static_cast<int>(scaled(1200, 600));
  if (path != Path::kClear && path != Path::kPromotion) {
    for (std::int64_t i = 0; i < 2 * rounds; ++i) m.store(kFillerBase + i, ReentrantValue(0));
  }
  auto armed = [](std::int64_t v) { return ReentrantValue(v, 1); };
  switch (path) {
    case Path::kStore:
      for (int i = 0; i < rounds; ++i) m.store(kKey, armed(i));
      break;
    case Path::kSwap:
      for (int i = 0; i < rounds; ++i) (void)m.swap(kKey, armed(i));
      break;
    case Path::kCompareAndSwap:
      m.store(kKey, armed(0));
      for (int i = 0; i < rounds; ++i) (void)m.compare_and_swap(kKey, armed(i), armed(i + 1));
      break;
    case Path::kErase:
      for (int i = 0; i < rounds; ++i) {
        m.store(kKey, armed(i));
        m.erase(kKey);
      }
      break;
    case Path::kLoadAndDelete:
      for (int i = 0; i < rounds; ++i) {
        m.store(kKey, armed(i));
        (void)m.load_and_delete(kKey);
      }
      break;
    case Path::kCompareAndDelete:
      for (int i = 0; i < rounds; ++i) {
        m.store(kKey, armed(i));
        (void)m.compare_and_delete(kKey, armed(i));
      }
      break;
    case Path::kClear:
      for (int i = 0; i < rounds; ++i) {
        m.store(kKey, armed(i));
        m.store(kKey + 10, armed(i));
        m.clear();
      }
      break;
    case Path::kPromotion:
      // The key sits in the snapshot; each round replaces its value outside
      // the mutex, adds and deletes a fresh key, and misses until the dirty
      // map is promoted — so the reclaim triggers land in promotions too.
      m.store(kKey, armed(0));
      for (int i = 0; i < 8; ++i) (void)m.load(kAbsentKey);
      for (int i = 0; i < rounds; ++i) {
        m.store(kKey, armed(i));
        m.store(kFillerBase + i, armed(i));
        for (int j = 0; j < 8; ++j) (void)m.load(kAbsentKey);
        m.erase(kFillerBase + i);
      }
      break;
  }
}

template <class Family>
class MapReentrancyTest : public ::testing::Test {};
TYPED_TEST_SUITE(MapReentrancyTest, AllMapFamilies, FamilyName);

TYPED_TEST(MapReentrancyTest, DestructorCallingBackIntoTheMap_DoesNotDeadlock_OnEveryWritePath) {
  using M = typename TypeParam::template Map<std::int64_t, ReentrantValue>;
  for (Path path : {Path::kStore, Path::kSwap, Path::kCompareAndSwap, Path::kErase,
                    Path::kLoadAndDelete, Path::kCompareAndDelete, Path::kClear,
                    Path::kPromotion}) {
    const auto out = run_in_child(
        [path] {
          auto m = TypeParam::template make<std::int64_t, ReentrantValue>();
          g_map<M>[1] = m.get();
          g_targets[1] = &touch_map<M, 1>;
          drive(*m, path);
          if constexpr (requires { m->reclaim_now(); }) m->reclaim_now();
          g_targets[1] = nullptr;  // values still in the map die with it
          return g_reentries.load() > 0 ? 0 : 3;  // the destructors did run
        },
        std::chrono::seconds(15));
    EXPECT_TRUE(out.exited_with(0))
        << TypeParam::kName << ", " << to_string(path) << ": " << out.describe();
  }
}

TYPED_TEST(MapReentrancyTest, TwoMapsWhoseValuesTouchEachOther_DoNotDeadlock) {
  using M = typename TypeParam::template Map<std::int64_t, ReentrantValue>;
  const auto out = run_in_child(
      [] {
        auto a = TypeParam::template make<std::int64_t, ReentrantValue>();
        auto b = TypeParam::template make<std::int64_t, ReentrantValue>();
        g_map<M>[1] = a.get();
        g_map<M>[2] = b.get();
        g_targets[1] = &touch_map<M, 1>;
        g_targets[2] = &touch_map<M, 2>;
        const int rounds = static_cast<int>(scaled(20000, 4000));
        std::latch start(2);
        // Values in a touch b and values in b touch a, each written from its
        // own thread through the locked store path (ReadMostlyMap: the key
        // stays in the dirty map among many filler keys).
        auto writer = [rounds, &start](M& m, int other) {
          for (std::int64_t i = 0; i < 500; ++i) m.store(kFillerBase + i, ReentrantValue(0));
          start.arrive_and_wait();
          for (int i = 0; i < rounds; ++i) m.store(kKey, ReentrantValue(i, other));
        };
        std::thread ta(writer, std::ref(*a), 2);
        std::thread tb(writer, std::ref(*b), 1);
        ta.join();
        tb.join();
        g_targets = {};  // values still in the maps die with them
        return 0;
      },
      std::chrono::seconds(20));
  EXPECT_TRUE(out.exited_with(0)) << TypeParam::kName << ": " << out.describe();
}

// The family's visit() rule (concurrent_map.h): the callback may call every
// method of the map it visits, the visited key's own shard included. Each
// call's result is checked against what a std::map oracle holding the same
// operations says; the child exits with the number of mismatches (a lock
// held across the callback hangs the child instead, and it is killed at the
// deadline).
TYPED_TEST(MapReentrancyTest, VisitCallback_MayCallEveryMethodOfTheSameMap) {
  const auto out = run_in_child(
      [] {
        auto m = TypeParam::template make<std::int64_t, std::int64_t>();
        std::map<std::int64_t, std::int64_t> oracle;
        for (std::int64_t k = 1; k <= 8; ++k) {
          m->store(k, 10 * k);
          oracle[k] = 10 * k;
        }
        int mismatches = 0;
        auto expect = [&mismatches](bool ok) { mismatches += ok ? 0 : 1; };
        int calls = 0;
        const bool found = m->visit(kKey, [&](const std::int64_t& v) {
          ++calls;
          expect(v == oracle[kKey]);
          // The visited key itself: every write and read on its shard.
          expect(m->load(kKey) == oracle[kKey]);
          m->store(kKey, v + 1);
          expect(m->swap(kKey, v + 2) == std::optional<std::int64_t>(v + 1));
          expect(m->compare_and_swap(kKey, v + 2, v + 3));
          const auto los = m->load_or_store(kKey, -1);
          expect(los.loaded && los.value == v + 3);
          oracle[kKey] = v + 3;
          expect(m->visit(kKey, [&](const std::int64_t& w) { expect(w == v + 3); }));
          // Other keys: deletes of every kind, a new key.
          expect(m->erase(2));
          expect(m->load_and_delete(3) == std::optional<std::int64_t>(30));
          expect(m->compare_and_delete(4, 40));
          oracle.erase(2);
          oracle.erase(3);
          oracle.erase(4);
          expect(!m->load_or_store(100, 1000).loaded);
          oracle[100] = 1000;
          // Whole-map operations.
          std::size_t ranged = 0;
          m->range([&](const std::int64_t& k, const std::int64_t& w) {
            expect(oracle.count(k) == 1 && oracle[k] == w);
            ++ranged;
            return true;
          });
          expect(ranged == oracle.size());
          expect(m->exact_size() == oracle.size());
          expect(m->size() == oracle.size());
          expect(m->stats().live_entries == static_cast<std::int64_t>(oracle.size()));
          m->clear();
          oracle.clear();
          m->store(5, 55);
          oracle[5] = 55;
        });
        expect(found && calls == 1);
        expect(m->exact_size() == oracle.size());
        for (const auto& [k, v] : oracle) expect(m->load(k) == v);
        expect(!m->load(kKey).has_value());
        return mismatches;
      },
      std::chrono::seconds(10));
  EXPECT_TRUE(out.exited_with(0)) << TypeParam::kName << ": " << out.describe();
}

}  // namespace
}  // namespace syncscope::map::testing
