// PooledShardedMap: ShardedMap whose nodes come from bounded per-thread free
// lists (internal::NodePool) — the free-list / sync.Pool design of the
// article. Deleting a key parks its node in the deleting thread's list and
// the next insert on that thread reuses it, so a churning workload (insert,
// delete, insert...) stops calling the allocator. The pool is bounded: at
// most max_cached_nodes_per_thread() nodes per thread, a process-wide
// setting of the node type (every map with the same K and V shares it).
//
// When to use it: key churn (sessions, requests in flight) where allocator
// traffic shows up in profiles. For only-growing maps it behaves like
// ShardedMap: there is nothing to recycle.
#pragma once

#include <functional>
#include <utility>

#include "absl/container/node_hash_map.h"
#include "absl/hash/hash.h"
#include "syncscope/map/internal/lock_based_map.h"
#include "syncscope/map/internal/node_pool.h"
#include "syncscope/map/sharded_map.h"

namespace syncscope::map {

// The free lists are per node type, not per map, so their bound is not an
// option of one map: see PooledShardedMap::set_max_cached_nodes_per_thread.
struct PooledMapOptions : ShardedMapOptions {};

namespace internal {
template <class K, class V>
using PoolNode = std::pair<const K, V>;
template <class K, class V, class Hash, class Eq>
using PooledTable =
    absl::node_hash_map<K, V, Hash, Eq, PoolAllocator<PoolNode<K, V>, PoolNode<K, V>>>;
}  // namespace internal

template <class K, class V, class Hash = absl::Hash<K>, class Eq = std::equal_to<K>>
  requires MapKey<K, Hash, Eq>
class PooledShardedMap
    : public internal::LockBasedMap<K, V, Hash, Eq, internal::PooledTable<K, V, Hash, Eq>> {
  using Base = internal::LockBasedMap<K, V, Hash, Eq, internal::PooledTable<K, V, Hash, Eq>>;
  using Pool = internal::NodePool<internal::PoolNode<K, V>>;

 public:
  explicit PooledShardedMap(PooledMapOptions options = {})
      : Base("PooledShardedMap", options, options.shards) {
    this->register_stats([this] { return stats(); });
  }

  // Process-wide: the per-thread free-list bound of every PooledShardedMap
  // whose nodes are pair<const K, V> (they share one pool). Default 256;
  // takes effect at each thread's next free. Thread-safe.
  static void set_max_cached_nodes_per_thread(std::size_t n) noexcept { Pool::set_limit(n); }
  static std::size_t max_cached_nodes_per_thread() noexcept { return Pool::limit(); }
  ~PooledShardedMap() { this->unregister_stats(); }

  // Base stats plus the pool's (shared by maps with the same node type).
  MapStats stats() const {
    MapStats s = Base::stats();
    const internal::NodePoolStats p = Pool::stats();
    s.pool_reuses = p.reuses;
    s.pool_allocations = p.allocations;
    s.pool_cached_nodes = p.cached;
    return s;
  }

  static internal::NodePoolStats pool_stats() { return Pool::stats(); }
  static std::size_t pool_limit() noexcept { return Pool::limit(); }
};

}  // namespace syncscope::map
