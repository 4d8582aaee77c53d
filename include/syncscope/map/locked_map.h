// LockedMap: one reader-writer lock (internal/futex_rw_lock.h) guarding one
// absl::flat_hash_map — the C++ counterpart of Go's "RWMutex + map", and the
// baseline every other map is measured against.
//
// When to use it: moderate concurrency, or when writes are frequent and keys
// churn. Under many readers on many cores the lock's reader count becomes
// one hot cache line, and reads stop scaling (ReadMostlyMap fixes that).
#pragma once

#include <functional>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "syncscope/map/internal/lock_based_map.h"

namespace syncscope::map {

template <class K, class V, class Hash = absl::Hash<K>, class Eq = std::equal_to<K>>
  requires MapKey<K, Hash, Eq>
class LockedMap
    : public internal::LockBasedMap<K, V, Hash, Eq, absl::flat_hash_map<K, V, Hash, Eq>> {
  using Base = internal::LockBasedMap<K, V, Hash, Eq, absl::flat_hash_map<K, V, Hash, Eq>>;

 public:
  explicit LockedMap(MapOptions options = {}) : Base("LockedMap", options, 1) {
    this->register_stats([this] { return this->stats(); });
  }
  ~LockedMap() { this->unregister_stats(); }
};

}  // namespace syncscope::map
