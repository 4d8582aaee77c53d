// The shared implementation of the three lock-based maps: an array of shards,
// each a reader-writer lock (FutexRwLock) plus a hash table. LockedMap is one shard over
// absl::flat_hash_map; ShardedMap is many shards over absl::node_hash_map;
// PooledShardedMap is ShardedMap with a pooling node allocator.
//
// Every operation but range() and clear() holds one shard's lock for its
// whole duration, so it is linearizable at that lock. visit() copies the
// value under the shard's shared lock and range() each shard's entries, and
// both call the callback with no lock held (so it may call any method of the
// map, as Go's Range allows);
// clear() clears the shards one at a time.
//
// User code under a shard lock (the family contract, concurrent_map.h):
// Hash, Eq, copies and moves of keys and values (and, for move-only values
// only, visit()'s and range()'s callbacks) run under the lock; destructors of
// values that leave the map never do. A removed or replaced value is moved
// out and a cleared shard's table is swapped out, into locals declared
// before the lock and destroyed after it is released. Under the lock only
// moved-from values and the keys of removed entries are destroyed.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "syncscope/map/concurrent_map.h"
#include "syncscope/map/internal/futex_rw_lock.h"
#include "syncscope/map/internal/map_counters.h"
#include "syncscope/map/internal/reentrancy_check.h"
#include "syncscope/map/internal/registration.h"
#include "syncscope/map/lock_contention.h"
#include "syncscope/map/map_events.h"
#include "syncscope/map/map_stats.h"

namespace syncscope::map::internal {

inline std::size_t round_up_to_power_of_two(std::size_t n) noexcept {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

template <class K, class V, class Hash, class Eq, class Table>
class LockBasedMap {
 public:
  using key_type = K;
  using mapped_type = V;

  LockBasedMap(const char* kind, const MapOptions& options, std::size_t shards)
      : kind_(kind),
        name_(options.name),
        shard_count_(round_up_to_power_of_two(shards == 0 ? 1 : shards)),
        shard_shift_(shard_count_ == 1 ? 0 : 64 - std::countr_zero(shard_count_)),
        shards_(new Shard[shard_count_]) {
    if (options.initial_capacity > 0) {
      for (std::size_t i = 0; i < shard_count_; ++i) {
        shards_[i].table.reserve(options.initial_capacity / shard_count_ + 1);
      }
    }
  }

  LockBasedMap(const LockBasedMap&) = delete;
  LockBasedMap& operator=(const LockBasedMap&) = delete;

  std::optional<V> load(const K& key) const
    requires std::copy_constructible<V>
  {
    std::optional<V> out;  // the caller destroys it, unlocked
    find_shared(key, [&](const V& v) { out.emplace(v); });
    return out;
  }

  // The family's visit() rule (concurrent_map.h): for copyable values the
  // value is copied under the shard's shared lock and f runs on the copy
  // with no lock held, so f may call any method of this map. Move-only
  // values cannot be copied: f then runs under the shared lock and must not
  // call this map (the debug build's ReentrancyCheck aborts if it does).
  template <class F>
    requires VisitCallback<F, V>
  bool visit(const K& key, F&& f) const {
    if constexpr (std::is_copy_constructible_v<V>) {
      return internal::visit_by_copy(*this, key, f);
    } else {
      return find_shared(key, f);  // f under the lock: must not call this map
    }
  }

  // Values are copied before the table is touched: absl's tables claim a
  // slot before constructing into it, so a copy that throws inside the table
  // would leave a phantom entry. Moves into the table are assumed not to
  // throw (the strong guarantee needs nothrow-movable K and V).
  void store(const K& key, const V& value)
    requires std::copy_constructible<V>
  {
    store(key, V(value));
  }
  void store(const K& key, V&& value) {
    reserve_node();
    Shard& s = shard_for(key);
    std::optional<V> replaced;  // destroyed after the lock is released
    ReentrancyCheck::Scope held(this);
    std::unique_lock lk(s.mu);
    auto [it, inserted] = s.table.try_emplace(key, std::move(value));
    if (inserted) {
      counters_.add_live(+1);
    } else {
      replaced.emplace(std::move(it->second));
      it->second = std::move(value);
    }
    maybe_shrink_locked(s);
  }

  std::optional<V> swap(const K& key, V value)
    requires std::copy_constructible<V>
  {
    reserve_node();
    Shard& s = shard_for(key);
    ReentrancyCheck::Scope held(this);
    std::unique_lock lk(s.mu);
    auto [it, inserted] = s.table.try_emplace(key, std::move(value));
    if (inserted) {
      counters_.add_live(+1);
      return std::nullopt;
    }
    std::optional<V> previous(std::move(it->second));
    it->second = std::move(value);
    return previous;
  }

  LoadOrStoreResult<V> load_or_store(const K& key, const V& value)
    requires std::copy_constructible<V>
  {
    Shard& s = shard_for(key);
    ReentrancyCheck::Scope held(this);
    {
      // Hits (the common case in caches) need only the shared lock.
      std::shared_lock lk(s.mu);
      auto it = s.table.find(key);
      if (it != s.table.end()) return {it->second, true};
    }
    V copy(value);  // before touching the table (see store)
    reserve_node();
    std::unique_lock lk(s.mu);
    auto [it, inserted] = s.table.try_emplace(key, std::move(copy));
    if (inserted) counters_.add_live(+1);
    return {it->second, !inserted};
  }

  std::optional<V> load_and_delete(const K& key)
    requires std::copy_constructible<V>
  {
    Shard& s = shard_for(key);
    ReentrancyCheck::Scope held(this);
    std::unique_lock lk(s.mu);
    auto it = s.table.find(key);
    if (it == s.table.end()) return std::nullopt;
    std::optional<V> out(std::move(it->second));  // the caller destroys it, unlocked
    s.table.erase(it);
    counters_.add_live(-1);
    maybe_shrink_locked(s);
    return out;
  }

  bool erase(const K& key) {
    Shard& s = shard_for(key);
    std::optional<V> removed;  // destroyed after the lock is released
    ReentrancyCheck::Scope held(this);
    std::unique_lock lk(s.mu);
    auto it = s.table.find(key);
    if (it == s.table.end()) return false;
    removed.emplace(std::move(it->second));
    s.table.erase(it);
    counters_.add_live(-1);
    maybe_shrink_locked(s);
    return true;
  }

  bool compare_and_swap(const K& key, const V& old_value, const V& new_value)
    requires std::equality_comparable<V> && std::copy_constructible<V>
  {
    Shard& s = shard_for(key);
    std::optional<V> replaced;  // destroyed after the lock is released
    ReentrancyCheck::Scope held(this);
    std::unique_lock lk(s.mu);
    auto it = s.table.find(key);
    if (it == s.table.end() || !(it->second == old_value)) return false;
    V copy(new_value);  // a throwing copy leaves the old value in place
    replaced.emplace(std::move(it->second));
    it->second = std::move(copy);
    return true;
  }

  bool compare_and_delete(const K& key, const V& old_value)
    requires std::equality_comparable<V>
  {
    Shard& s = shard_for(key);
    std::optional<V> removed;  // destroyed after the lock is released
    ReentrancyCheck::Scope held(this);
    std::unique_lock lk(s.mu);
    auto it = s.table.find(key);
    if (it == s.table.end() || !(it->second == old_value)) return false;
    removed.emplace(std::move(it->second));
    s.table.erase(it);
    counters_.add_live(-1);
    maybe_shrink_locked(s);
    return true;
  }

  // Copies one shard at a time under its shared lock, then calls f with no
  // lock held. Move-only values cannot be copied: for them f runs under the
  // shard's shared lock and must not call mutating methods of this map.
  template <class F>
    requires RangeCallback<F, K, V>
  void range(F&& f) {
    for (std::size_t i = 0; i < shard_count_; ++i) {
      Shard& s = shards_[i];
      if constexpr (std::is_copy_constructible_v<V>) {
        std::vector<std::pair<K, V>> copy;
        {
          ReentrancyCheck::Scope held(this);
          std::shared_lock lk(s.mu);
          copy.reserve(s.table.size());
          for (const auto& [k, v] : s.table) copy.emplace_back(k, v);
        }
        for (const auto& [k, v] : copy) {
          if (!internal::call_range_callback(f, k, v)) return;
        }
      } else {
        ReentrancyCheck::Scope held(this);
        std::shared_lock lk(s.mu);
        for (const auto& [k, v] : s.table) {
          if (!internal::call_range_callback(f, k, v)) return;
        }
      }
    }
  }

  void clear() {
    for (std::size_t i = 0; i < shard_count_; ++i) {
      Shard& s = shards_[i];
      Table removed;  // destroyed after the lock is released
      ReentrancyCheck::Scope held(this);
      std::unique_lock lk(s.mu);
      counters_.add_live(-static_cast<std::int64_t>(s.table.size()));
      removed.swap(s.table);
    }
    emit_map_event(MapEvent{MapEventKind::kClear, name_, 0});
  }

  // Approximate, O(1): per-thread live counters (see ReadMostlyMap::size()).
  std::size_t size() const noexcept {
    const std::int64_t n = counters_.live();
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }

  // Exact at the moment each shard is read: sums shard sizes under their
  // shared locks, O(shards).
  std::size_t exact_size() const {
    std::size_t n = 0;
    for (std::size_t i = 0; i < shard_count_; ++i) {
      ReentrancyCheck::Scope held(this);
      std::shared_lock lk(shards_[i].mu);
      n += shards_[i].table.size();
    }
    return n;
  }

  MapStats stats() const {
    MapStats s;
    s.kind = kind_;
    s.hits = counters_.sum(Counter::kHits);
    s.misses = counters_.sum(Counter::kMisses);
    s.live_entries = static_cast<std::int64_t>(size());
    return s;
  }

  std::size_t shard_count() const noexcept { return shard_count_; }
  const std::string& name() const noexcept { return name_; }

 protected:
  void register_stats(MapRegistry::StatsFn fn) { registration_.attach(name_, std::move(fn)); }
  // Derived classes unregister in their destructor before their own members go.
  void unregister_stats() { registration_.detach(); }

 private:
  struct alignas(64) Shard {
    mutable FutexRwLock mu;  // timed when contended (lock_contention.h)
    Table table;  // guarded by mu
  };

  // The one lookup of load() and visit(): finds key under its shard's
  // shared lock and, on a hit, runs on_hit(value) under that lock.
  template <class OnHit>
  bool find_shared(const K& key, OnHit&& on_hit) const {
    const Shard& s = shard_for(key);
    ReentrancyCheck::Scope held(this);
    std::shared_lock lk(s.mu);
    auto it = s.table.find(key);
    if (it == s.table.end()) {
      counters_.bump(Counter::kMisses);
      return false;
    }
    counters_.bump(Counter::kHits);
    on_hit(static_cast<const V&>(it->second));
    return true;
  }

  // Hash tables never shrink by themselves: after a map grew to a million
  // keys and emptied, its slot arrays would stay. Rehash to fit once the
  // table is under a quarter full; the next shrink needs another 3/4 of the
  // entries gone, so this is amortized O(1) per erase.
  // TODO(#13): a table that must grow for an insert grows in place, and
  // absl 20220623's raw_hash_set::resize sets the new capacity before it
  // allocates: a std::bad_alloc there leaves a table that crashes when
  // destroyed. Growing through a constructor (as ReadMostlyMap's make_table
  // does) needs an element transfer that survives a throwing Hash.
  //
  // Node-based tables claim a slot before they allocate its node: a node
  // allocation that failed there would leave a phantom entry. Their
  // allocators keep one node per thread allocated ahead; this refills it
  // before an insert (may throw std::bad_alloc, before any change).
  static void reserve_node() {
    if constexpr (requires { Table::allocator_type::reserve_node(); }) {
      Table::allocator_type::reserve_node();
    }
  }

  static void maybe_shrink_locked(Shard& s) {
    constexpr std::size_t kMinCapacity = 64;
    if (s.table.capacity() > kMinCapacity && s.table.size() * 4 < s.table.capacity()) {
      s.table.rehash(0);
    }
  }


  std::size_t shard_index(const K& key) const {
    if (shard_count_ == 1) return 0;
    // Fibonacci mixing so that weak hashes (std::hash of integers is the
    // identity) still spread over shards; the top bits pick the shard.
    const std::uint64_t h = static_cast<std::uint64_t>(Hash{}(key)) * 0x9E3779B97F4A7C15ull;
    return static_cast<std::size_t>(h >> shard_shift_);
  }
  Shard& shard_for(const K& key) { return shards_[shard_index(key)]; }
  const Shard& shard_for(const K& key) const { return shards_[shard_index(key)]; }

  const char* const kind_;
  const std::string name_;
  const std::size_t shard_count_;  // power of two
  const int shard_shift_;          // 64 - log2(shard_count_), unused when 1 shard
  std::unique_ptr<Shard[]> shards_;
  mutable MapCounters counters_;
  Registration registration_;
};

}  // namespace syncscope::map::internal
