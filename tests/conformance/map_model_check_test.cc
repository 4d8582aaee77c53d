// Reference-model checker: seeded random sequences of every operation,
// applied to each map and to ModelMap (a plain std::unordered_map); every
// result is compared, and the whole contents are compared periodically.
// A failure prints the seed; SYNCSCOPE_SEED=<seed> replays it.
#include <cstdint>
#include <deque>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "conformance/map_model.h"
#include "conformance/map_types.h"
#include "conformance/test_support.h"

namespace syncscope::map::testing {
namespace {

// 10^5 operations per map per key range in the normal build; sanitizer
// builds run a fraction (TSan makes each op 10-40x slower).
const long kOpsPerRun = scaled(100'000, 10'000);
constexpr long kFullCompareEvery = 4'096;

template <class M>
::testing::AssertionResult contents_equal(M& m, const ModelMap& model) {
  std::size_t visited = 0;
  std::string why;
  m.range([&](const Key& k, const Value& v) {
    ++visited;
    auto it = model.contents().find(k);
    if (why.empty() && (it == model.contents().end() || it->second != v)) {
      why = "map holds (" + std::to_string(k) + ", " + std::to_string(v) +
            ") which the model does not";
    }
    return true;
  });
  if (why.empty() && visited != model.contents().size()) {
    why = "map range visited " + std::to_string(visited) + " keys, model holds " +
          std::to_string(model.contents().size());
  }
  if (why.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << why;
}

template <class Family>
void run_model_check(const OpMix& mix, std::uint64_t seed) {
  SCOPED_TRACE(seed_note(seed) + ", map " + Family::kName + ", key range " +
               std::to_string(mix.key_range));
  auto map = Family::template make<Key, Value>();
  ModelMap model;
  std::mt19937_64 rng(seed);
  std::deque<std::string> recent;  // the last ops, printed on failure
  for (long i = 0; i < kOpsPerRun; ++i) {
    const Op op = random_op(rng, mix);
    recent.push_back(describe(op));
    if (recent.size() > 8) recent.pop_front();
    const OpResult expected = model.apply(op);
    const OpResult actual = apply_to_map(*map, op);
    std::string why;
    if (!results_match(op, expected, actual, model, &why)) {
      std::string history;
      for (const auto& s : recent) history += "\n  " + s;
      FAIL() << "op #" << i << " " << describe(op) << ": " << why << "\nlast ops:" << history;
    }
    if ((i + 1) % kFullCompareEvery == 0) {
      ASSERT_TRUE(contents_equal(*map, model)) << "after op #" << i;
      ASSERT_EQ(map->size(), model.contents().size()) << "after op #" << i;
    }
  }
  ASSERT_TRUE(contents_equal(*map, model)) << "at the end";
  EXPECT_EQ(map->exact_size(), model.contents().size());
}

template <class Family>
class MapModelCheckTest : public ::testing::Test {};
TYPED_TEST_SUITE(MapModelCheckTest, AllMapFamilies, FamilyName);

TYPED_TEST(MapModelCheckTest, RandomOps_SmallKeyRange_MatchModel) {
  OpMix mix;
  mix.key_range = 16;
  run_model_check<TypeParam>(mix, test_seed());
}

TYPED_TEST(MapModelCheckTest, RandomOps_LargeKeyRange_MatchModel) {
  OpMix mix;
  mix.key_range = 100'000;
  mix.clear_one_in = 50'000;
  mix.exact_size_one_in = 5'000;
  run_model_check<TypeParam>(mix, test_seed());
}

TYPED_TEST(MapModelCheckTest, RandomOps_StoreHeavyLargeValues_MatchModel) {
  // Wide value range: CAS/CAD mostly fail, loads mostly miss on fresh keys,
  // which drives ReadMostlyMap through many promotions and rebuilds.
  OpMix mix;
  mix.key_range = 1'000;
  mix.value_range = 1'000'000;
  run_model_check<TypeParam>(mix, test_seed());
}

}  // namespace
}  // namespace syncscope::map::testing
