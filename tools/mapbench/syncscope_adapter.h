// Adapter for syncscope's own maps: any type that satisfies
// syncscope::map::ConcurrentMap with int64 keys and values offers every
// operation, so one template covers ReadMostlyMap, LockedMap, ShardedMap,
// PooledShardedMap and FlatGroupMap. Each map is default-constructed (default options), as a
// user would start.
#pragma once

#include "ops.h"
#include "syncscope/map/concurrent_map.h"

namespace syncscope::mapbench {

template <syncscope::map::ConcurrentMap M, const char* Name>
class SyncscopeAdapter {
 public:
  static constexpr const char* kName = Name;
  static constexpr unsigned kOps = kAllOps;

  bool load(Key k, Value& out) {
    auto v = map_.load(k);
    if (!v) return false;
    out = *v;
    return true;
  }
  void store(Key k, Value v) { map_.store(k, v); }
  bool load_or_store(Key k, Value v, Value& actual) {
    auto r = map_.load_or_store(k, v);
    actual = r.value;
    return r.loaded;
  }
  bool load_and_delete(Key k, Value& out) {
    auto v = map_.load_and_delete(k);
    if (!v) return false;
    out = *v;
    return true;
  }
  void erase(Key k) { map_.erase(k); }
  bool swap(Key k, Value v, Value& previous) {
    auto p = map_.swap(k, v);
    if (!p) return false;
    previous = *p;
    return true;
  }
  bool compare_and_swap(Key k, Value old, Value nu) { return map_.compare_and_swap(k, old, nu); }
  bool compare_and_delete(Key k, Value old) { return map_.compare_and_delete(k, old); }
  template <class F>
  void range(F f) {
    map_.range([&f](const Key& k, const Value& v) { return static_cast<bool>(f(k, v)); });
  }

 private:
  M map_;
};

}  // namespace syncscope::mapbench
