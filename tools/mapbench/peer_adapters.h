// Adapters that present the C++ peer maps (oneTBB's concurrent_hash_map and
// concurrent_unordered_map, libcuckoo's cuckoohash_map) with the operation
// shape of ops.h, each written the way a careful user of that library would
// write Go's sync.Map operations with it.
//
// Every peer allocates through std::allocator (tbb's default tbb_allocator
// would silently switch to tbbmalloc when it can be loaded, which bypasses
// the operator new counter and differs between a dynamic and a static build),
// so allocation counts and allocator speed are the same for every system.
// Hash functions are each library's default, as users get them.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include <libcuckoo/cuckoohash_map.hh>
#include <tbb/concurrent_hash_map.h>
#include <tbb/concurrent_unordered_map.h>

#include "ops.h"
#include "system_names.h"

namespace syncscope::mapbench {

// tbb::concurrent_hash_map: per-element reader/writer locks through accessors.
// Iteration is not safe while other threads insert or erase, so workloads
// that range while writing are n/a.
class TbbHashMapAdapter {
 public:
  static constexpr const char* kName = system_names::kTbbHashMap;
  static constexpr unsigned kOps = kAllOps & ~kRangeWhileWriting;

  bool load(Key k, Value& out) const {
    Map::const_accessor a;
    if (!map_.find(a, k)) return false;
    out = a->second;
    return true;
  }
  void store(Key k, Value v) {
    Map::accessor a;
    map_.insert(a, k);
    a->second = v;
  }
  bool load_or_store(Key k, Value v, Value& actual) {
    Map::const_accessor a;
    const bool inserted = map_.insert(a, std::pair<const Key, Value>(k, v));
    actual = a->second;
    return !inserted;
  }
  bool load_and_delete(Key k, Value& out) {
    Map::accessor a;
    if (!map_.find(a, k)) return false;
    out = a->second;
    return map_.erase(a);
  }
  void erase(Key k) { map_.erase(k); }
  bool swap(Key k, Value v, Value& previous) {
    Map::accessor a;
    const bool inserted = map_.insert(a, k);
    previous = a->second;
    a->second = v;
    return !inserted;
  }
  bool compare_and_swap(Key k, Value old, Value nu) {
    Map::accessor a;
    if (!map_.find(a, k) || a->second != old) return false;
    a->second = nu;
    return true;
  }
  bool compare_and_delete(Key k, Value old) {
    Map::accessor a;
    if (!map_.find(a, k) || a->second != old) return false;
    return map_.erase(a);
  }
  template <class F>
  void range(F f) {
    for (const auto& [k, v] : map_) {
      if (!f(k, v)) return;
    }
  }

 private:
  using Map = tbb::concurrent_hash_map<Key, Value, tbb::tbb_hash_compare<Key>,
                                       std::allocator<std::pair<const Key, Value>>>;
  mutable Map map_;
};

// tbb::concurrent_unordered_map: lock-free split-ordered list; insert, find
// and iteration are concurrent-safe, erase is not (unsafe_erase), so every
// workload that deletes is n/a. The mapped value is an atomic so that stores
// to an existing key (Store, Swap, CompareAndSwap) are race-free; lookups go
// first, as a user would write them, so a hit never builds a node.
class TbbUnorderedMapAdapter {
 public:
  static constexpr const char* kName = system_names::kTbbUnorderedMap;
  static constexpr unsigned kOps =
      kLoad | kStore | kLoadOrStore | kSwap | kCompareAndSwap | kRange | kRangeWhileWriting;

  bool load(Key k, Value& out) const {
    auto it = map_.find(k);
    if (it == map_.end()) return false;
    // relaxed: the value is a self-contained integer; the element itself is
    // published by the container's own insertion.
    out = it->second.load(std::memory_order_relaxed);
    return true;
  }
  void store(Key k, Value v) {
    auto it = map_.find(k);
    if (it == map_.end()) {
      bool inserted = false;
      std::tie(it, inserted) = map_.emplace(k, v);
      if (inserted) return;
    }
    // relaxed: see load(); the integer value carries no other data.
    it->second.store(v, std::memory_order_relaxed);
  }
  bool load_or_store(Key k, Value v, Value& actual) {
    auto it = map_.find(k);
    bool loaded = true;
    if (it == map_.end()) {
      bool inserted = false;
      std::tie(it, inserted) = map_.emplace(k, v);
      loaded = !inserted;
    }
    // relaxed: see load().
    actual = it->second.load(std::memory_order_relaxed);
    return loaded;
  }
  bool swap(Key k, Value v, Value& previous) {
    auto it = map_.find(k);
    if (it == map_.end()) {
      bool inserted = false;
      std::tie(it, inserted) = map_.emplace(k, v);
      if (inserted) return false;
    }
    // relaxed: see load(); atomicity of the exchange is what Swap needs.
    previous = it->second.exchange(v, std::memory_order_relaxed);
    return true;
  }
  bool compare_and_swap(Key k, Value old, Value nu) {
    auto it = map_.find(k);
    if (it == map_.end()) return false;
    // relaxed: see load(); only the value itself is compared and replaced.
    return it->second.compare_exchange_strong(old, nu, std::memory_order_relaxed);
  }
  template <class F>
  void range(F f) {
    for (auto& [k, v] : map_) {
      // relaxed: see load().
      if (!f(k, v.load(std::memory_order_relaxed))) return;
    }
  }

 private:
  using Map = tbb::concurrent_unordered_map<
      Key, std::atomic<Value>, std::hash<Key>, std::equal_to<Key>,
      std::allocator<std::pair<const Key, std::atomic<Value>>>>;
  mutable Map map_;
};

// libcuckoo: fine-grained bucket locks; every operation is concurrent-safe.
// Iteration needs lock_table(), which excludes all other threads, so range()
// copies the pairs under that lock and calls f after releasing it (the
// callback may then call back into the map, as Go's Range allows).
class CuckooAdapter {
 public:
  static constexpr const char* kName = system_names::kLibcuckoo;
  static constexpr unsigned kOps = kAllOps;

  bool load(Key k, Value& out) const { return map_.find(k, out); }
  void store(Key k, Value v) { map_.insert_or_assign(k, v); }
  bool load_or_store(Key k, Value v, Value& actual) {
    actual = v;
    return !map_.uprase_fn(
        k, [&actual](Value& existing) {
          actual = existing;
          return false;
        },
        v);
  }
  bool load_and_delete(Key k, Value& out) {
    return map_.erase_fn(k, [&out](Value& existing) {
      out = existing;
      return true;
    });
  }
  void erase(Key k) { map_.erase(k); }
  bool swap(Key k, Value v, Value& previous) {
    bool loaded = false;
    map_.uprase_fn(
        k, [&](Value& existing) {
          previous = existing;
          existing = v;
          loaded = true;
          return false;
        },
        v);
    return loaded;
  }
  bool compare_and_swap(Key k, Value old, Value nu) {
    bool swapped = false;
    map_.update_fn(k, [&](Value& existing) {
      if (existing == old) {
        existing = nu;
        swapped = true;
      }
    });
    return swapped;
  }
  bool compare_and_delete(Key k, Value old) {
    bool deleted = false;
    map_.erase_fn(k, [&](Value& existing) {
      deleted = existing == old;
      return deleted;
    });
    return deleted;
  }
  template <class F>
  void range(F f) {
    std::vector<std::pair<Key, Value>> pairs;
    {
      auto locked = map_.lock_table();
      pairs.reserve(locked.size());
      for (const auto& [k, v] : locked) pairs.emplace_back(k, v);
    }
    for (const auto& [k, v] : pairs) {
      if (!f(k, v)) return;
    }
  }

 private:
  mutable libcuckoo::cuckoohash_map<Key, Value> map_;
};

}  // namespace syncscope::mapbench
