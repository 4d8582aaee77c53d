// The five map families the typed suites run over. A family names a map
// class template and says how to construct one, so a suite can instantiate
// the same family with int64 values, move-only values, throwing hashes...
//
// Maps hold mutexes and are neither copyable nor movable: make() returns a
// unique_ptr. ShardedMap and PooledShardedMap are built with few shards and a
// small per-thread cache, so that tests reach shard collisions and the pool's
// bound quickly.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "absl/hash/hash.h"
#include "syncscope/map/maps.h"

namespace syncscope::map::testing {

struct ReadMostlyFamily {
  static constexpr const char* kName = "ReadMostlyMap";
  template <class K, class V, class H = absl::Hash<K>, class E = std::equal_to<K>>
  using Map = ReadMostlyMap<K, V, H, E>;
  template <class K, class V, class H = absl::Hash<K>, class E = std::equal_to<K>>
  static std::unique_ptr<Map<K, V, H, E>> make() {
    return std::make_unique<Map<K, V, H, E>>(MapOptions{});
  }
};

struct LockedFamily {
  static constexpr const char* kName = "LockedMap";
  template <class K, class V, class H = absl::Hash<K>, class E = std::equal_to<K>>
  using Map = LockedMap<K, V, H, E>;
  template <class K, class V, class H = absl::Hash<K>, class E = std::equal_to<K>>
  static std::unique_ptr<Map<K, V, H, E>> make() {
    return std::make_unique<Map<K, V, H, E>>(MapOptions{});
  }
};

inline constexpr std::size_t kTestShards = 4;

struct ShardedFamily {
  static constexpr const char* kName = "ShardedMap";
  template <class K, class V, class H = absl::Hash<K>, class E = std::equal_to<K>>
  using Map = ShardedMap<K, V, H, E>;
  template <class K, class V, class H = absl::Hash<K>, class E = std::equal_to<K>>
  static std::unique_ptr<Map<K, V, H, E>> make() {
    ShardedMapOptions options;
    options.shards = kTestShards;
    return std::make_unique<Map<K, V, H, E>>(options);
  }
};

inline constexpr std::size_t kTestMaxCachedNodes = 32;

struct PooledShardedFamily {
  static constexpr const char* kName = "PooledShardedMap";
  template <class K, class V, class H = absl::Hash<K>, class E = std::equal_to<K>>
  using Map = PooledShardedMap<K, V, H, E>;
  template <class K, class V, class H = absl::Hash<K>, class E = std::equal_to<K>>
  static std::unique_ptr<Map<K, V, H, E>> make() {
    PooledMapOptions options;
    options.shards = kTestShards;
    Map<K, V, H, E>::set_max_cached_nodes_per_thread(kTestMaxCachedNodes);
    return std::make_unique<Map<K, V, H, E>>(options);
  }
};

// Starts with a 2-group table (30 slots), so the suites reach growth,
// shrink and overflowed probe sequences within a few dozen keys.
struct FlatGroupFamily {
  static constexpr const char* kName = "FlatGroupMap";
  template <class K, class V, class H = absl::Hash<K>, class E = std::equal_to<K>>
  using Map = FlatGroupMap<K, V, H, E>;
  template <class K, class V, class H = absl::Hash<K>, class E = std::equal_to<K>>
  static std::unique_ptr<Map<K, V, H, E>> make() {
    return std::make_unique<Map<K, V, H, E>>(MapOptions{});
  }
};

using AllMapFamilies = ::testing::Types<ReadMostlyFamily, LockedFamily, ShardedFamily,
                                        PooledShardedFamily, FlatGroupFamily>;

// Names typed-test instances after the map ("ReadMostlyMap", ...) instead of 0..4.
struct FamilyName {
  template <class F>
  static std::string GetName(int) {
    return F::kName;
  }
};

// Every family satisfies the concept for the suites' main key/value types.
static_assert(ConcurrentMap<ReadMostlyFamily::Map<std::int64_t, std::int64_t>>);
static_assert(ConcurrentMap<LockedFamily::Map<std::int64_t, std::int64_t>>);
static_assert(ConcurrentMap<ShardedFamily::Map<std::int64_t, std::int64_t>>);
static_assert(ConcurrentMap<PooledShardedFamily::Map<std::int64_t, std::int64_t>>);
static_assert(ConcurrentMap<FlatGroupFamily::Map<std::int64_t, std::int64_t>>);
static_assert(ConcurrentMap<ReadMostlyFamily::Map<std::string, std::string>>);
static_assert(ConcurrentMap<FlatGroupFamily::Map<std::string, std::string>>);

}  // namespace syncscope::map::testing
