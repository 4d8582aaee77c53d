// The address profile's id table (src/prof/insertion_ids.h): dense ids in
// order of first insertion, the same id for a key seen again, across the
// table's growth, checked against std::map as the oracle.
#include "prof/insertion_ids.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>

namespace {

using syncscope::prof::internal::InsertionIds;

TEST(InsertionIds, StringKeys_MatchAMapOfFirstInsertions) {
  InsertionIds<std::string> ids;
  std::map<std::string, std::size_t> oracle;
  std::mt19937_64 rng(7);
  // 20,000 lookups of 5,000 distinct keys of 0 to 40 bytes (the empty
  // string, the 8-byte steps and the tails all occur), repeats included.
  for (int i = 0; i < 20000; ++i) {
    const std::uint64_t k = rng() % 5000;
    const std::string key = std::string(k % 41, 'a' + k % 26) + std::to_string(k);
    bool inserted = false;
    const std::size_t id = ids.id(key, &inserted);
    const auto [it, fresh] = oracle.try_emplace(key, oracle.size());
    ASSERT_EQ(inserted, fresh) << key;
    ASSERT_EQ(id, it->second) << key;
  }
  ASSERT_EQ(ids.size(), oracle.size());
  for (const auto& [key, id] : oracle) EXPECT_EQ(ids.keys()[id], key);
}

TEST(InsertionIds, IntegerKeys_MatchAMapOfFirstInsertions) {
  InsertionIds<std::uintptr_t> ids;
  std::map<std::uintptr_t, std::size_t> oracle;
  std::mt19937_64 rng(8);
  // Code-address-like keys: a narrow range with 16-byte steps, and 0.
  for (int i = 0; i < 50000; ++i) {
    const std::uintptr_t key = i % 997 == 0 ? 0 : 0x555555554000 + (rng() % 20000) * 16;
    bool inserted = false;
    const std::size_t id = ids.id(key, &inserted);
    const auto [it, fresh] = oracle.try_emplace(key, oracle.size());
    ASSERT_EQ(inserted, fresh) << key;
    ASSERT_EQ(id, it->second) << key;
  }
  EXPECT_EQ(ids.size(), oracle.size());
}

}  // namespace
