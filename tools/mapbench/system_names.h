// The benchmarked systems' names (DESIGN §6, the JSON's `system` field), in
// report order: the one list the driver, the adapters, the Go harness and
// the report read.
#pragma once

#include <algorithm>
#include <iterator>
#include <string_view>

namespace syncscope::mapbench::system_names {

// Our five designs.
inline constexpr char kReadMostlyMap[] = "ReadMostlyMap";
inline constexpr char kLockedMap[] = "LockedMap";
inline constexpr char kShardedMap[] = "ShardedMap";
inline constexpr char kPooledShardedMap[] = "PooledShardedMap";
inline constexpr char kFlatGroupMap[] = "FlatGroupMap";
// C++ peers.
inline constexpr char kTbbHashMap[] = "tbb_concurrent_hash_map";
inline constexpr char kTbbUnorderedMap[] = "tbb_concurrent_unordered_map";
inline constexpr char kLibcuckoo[] = "libcuckoo";
// Go, run by the Go harness.
inline constexpr char kGoSyncMap[] = "go_sync_map";
inline constexpr char kGoRwmutexMap[] = "go_rwmutex_map";

inline constexpr const char* kOurs[] = {kReadMostlyMap, kLockedMap, kShardedMap, kPooledShardedMap,
                                        kFlatGroupMap};
inline constexpr const char* kGo[] = {kGoSyncMap, kGoRwmutexMap};
inline constexpr const char* kAll[] = {kReadMostlyMap,   kLockedMap,  kShardedMap, kPooledShardedMap,
                                       kFlatGroupMap,    kTbbHashMap, kTbbUnorderedMap,
                                       kLibcuckoo,       kGoSyncMap,  kGoRwmutexMap};

inline bool is_ours(std::string_view name) {
  return std::find(std::begin(kOurs), std::end(kOurs), name) != std::end(kOurs);
}
inline bool is_go(std::string_view name) {
  return std::find(std::begin(kGo), std::end(kGo), name) != std::end(kGo);
}

}  // namespace syncscope::mapbench::system_names
