// The one API shared by syncscope's five concurrent maps — ReadMostlyMap,
// LockedMap, ShardedMap, PooledShardedMap, FlatGroupMap — as a C++20 concept,
// plus the small result types the operations return.
//
// Contract (DESIGN §2), common to every map that satisfies ConcurrentMap:
//   * Every operation is linearizable, except range() and clear(), which
//     follow Go's sync.Map: range() visits each key at most once, reflects
//     for each key some value it held during the call (or skips a key stored
//     or deleted concurrently), and stops when the callback returns false.
//     clear() removes every key present when it starts; keys stored
//     concurrently may survive.
//   * Callbacks may call the map (one rule for all five maps, as Go's Range
//     allows): the callback of visit() and of range() may call any method of
//     the same map, the visited key and its shard included, and of any other
//     map. ReadMostlyMap runs them under its epoch pin and no lock; the
//     lock-based maps and FlatGroupMap copy the value (visit) or the entries
//     (range) under their shared protection and run the callback on the copy
//     with no lock held. The one exception: in those maps, move-only values
//     cannot be copied, so the callbacks run under the shard's (group's)
//     shared lock and must not call that map (debug builds abort with a
//     message if they do; see internal/reentrancy_check.h). visit() is
//     linearizable at its read of the value; the callback sees that value
//     even if another call (its own included) replaces it meanwhile.
//   * References handed to callbacks (range, visit) are valid only during the
//     callback. A value that must outlive it is copied — that is what load()
//     returns. Capturing a reference (or a raw pointer) into a task that
//     outlives the callback is the bug the lab reproduces.
//   * size() is O(1) and approximate; exact_size() walks every entry (O(N)).
//   * User code under a map's lock. What may run while a map holds one of
//     its locks: Hash, Eq, copies and moves of keys and values (and, for the
//     lock-based maps holding move-only values, the visit() and range()
//     callbacks). None of these may call the same map: that would deadlock,
//     and debug builds abort with a message instead (see
//     internal/reentrancy_check.h). What never runs under a map's lock: the
//     destructor of a value that leaves the map (erase, load_and_delete,
//     compare_and_delete, clear) or is replaced (store, swap,
//     compare_and_swap), and the callbacks of visit() and range() for
//     copyable values. Such a destructor may call any method of the same map
//     or of another map (a shared_ptr to a node that deregisters itself; two
//     maps whose values refer to each other). ReadMostlyMap destroys removed
//     keys unlocked too; the lock-based maps may destroy a removed key (and
//     moved-from values) under the shard lock.
//   * Destructors of K and V must not throw (std::is_nothrow_destructible).
//
// Method summary (Go name in brackets):
//   load [Load]                  std::optional<V>        copy of the value
//   store [Store]                void
//   load_or_store [LoadOrStore]  LoadOrStoreResult<V>    {value, loaded}
//   load_and_delete [LoadAndDelete] std::optional<V>     the removed value
//   erase [Delete]               bool                    true if a value was removed
//   swap [Swap]                  std::optional<V>        the previous value
//   compare_and_swap [CompareAndSwap]   bool             needs V == V
//   compare_and_delete [CompareAndDelete] bool           needs V == V
//   range [Range]                void                    f(const K&, const V&) -> bool
//   clear [Clear]                void
//   visit(key, f)                bool (found)            f(const V&); f may call the map
//   size()                       std::size_t (approximate, O(1))
//   exact_size()                 std::size_t (O(N) walk)
#pragma once

#include <concepts>
#include <cstddef>
#include <optional>
#include <string>
#include <type_traits>

#include "syncscope/map/map_stats.h"

namespace syncscope::map {

// Result of load_or_store: the value now in the map for the key, and whether
// it was already there (true) or was just stored by this call (false).
template <class V>
struct LoadOrStoreResult {
  V value;
  bool loaded;
};

// Key requirements (DESIGN §2): hashable, equality-comparable, copyable.
template <class K, class Hash, class Eq>
concept MapKey = std::copy_constructible<K> && std::equality_comparable<K> &&
                 std::invocable<const Hash&, const K&> &&
                 std::predicate<const Eq&, const K&, const K&>;

// Callback shapes. A range callback may return bool (false stops the range)
// or void (never stops).
template <class F, class K, class V>
concept RangeCallback = std::invocable<F&, const K&, const V&>;

namespace internal {
// Calls a range callback; returns whether the range goes on (a void
// callback never stops it).
template <class F, class K, class V>
  requires RangeCallback<F, K, V>
bool call_range_callback(F& f, const K& k, const V& v) {
  if constexpr (std::is_same_v<std::invoke_result_t<F&, const K&, const V&>, void>) {
    f(k, v);
    return true;
  } else {
    return static_cast<bool>(f(k, v));
  }
}
}  // namespace internal

template <class F, class V>
concept VisitCallback = std::invocable<F&, const V&>;

namespace internal {
// The visit() of the maps that lend copyable values by copy (the lock-based
// maps and FlatGroupMap): load() copies the value under the map's
// protection, and f runs on the copy with no lock held, so f may call any
// method of the map. The copy is destroyed after f, unlocked.
template <class M, class F>
bool visit_by_copy(const M& map, const typename M::key_type& key, F& f) {
  const std::optional<typename M::mapped_type> copy = map.load(key);
  if (!copy) return false;
  f(static_cast<const typename M::mapped_type&>(*copy));
  return true;
}
}  // namespace internal

// Options common to every map.
struct MapOptions {
  // Name under which the map registers its stats (MapRegistry, /debug/maps,
  // /metrics). Empty: the map does not register.
  std::string name;
  // Expected number of keys; pre-sizes the tables.
  std::size_t initial_capacity = 0;
};

// The concept all five maps satisfy, for copyable values.
template <class M>
concept ConcurrentMap = requires(M& m, const M& cm, const typename M::key_type& k,
                                 const typename M::mapped_type& v) {
  typename M::key_type;
  typename M::mapped_type;
  requires std::is_nothrow_destructible_v<typename M::key_type> &&
               std::is_nothrow_destructible_v<typename M::mapped_type>;
  { m.load(k) } -> std::same_as<std::optional<typename M::mapped_type>>;
  { m.store(k, v) } -> std::same_as<void>;
  { m.load_or_store(k, v) } -> std::same_as<LoadOrStoreResult<typename M::mapped_type>>;
  { m.load_and_delete(k) } -> std::same_as<std::optional<typename M::mapped_type>>;
  { m.erase(k) } -> std::same_as<bool>;
  { m.swap(k, v) } -> std::same_as<std::optional<typename M::mapped_type>>;
  { m.compare_and_swap(k, v, v) } -> std::same_as<bool>;
  { m.compare_and_delete(k, v) } -> std::same_as<bool>;
  { m.range([](const typename M::key_type&, const typename M::mapped_type&) { return true; }) };
  { m.clear() };
  { m.visit(k, [](const typename M::mapped_type&) {}) } -> std::same_as<bool>;
  { cm.size() } -> std::convertible_to<std::size_t>;
  { cm.exact_size() } -> std::convertible_to<std::size_t>;
  { cm.stats() } -> std::same_as<MapStats>;
};

}  // namespace syncscope::map
