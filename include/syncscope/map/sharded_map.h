// ShardedMap: N shards (a power of two, default 64), each a reader-writer
// lock (internal/futex_rw_lock.h) and an absl::node_hash_map. Keys spread over shards by a mixed hash, so
// threads working on different keys rarely meet on the same lock.
//
// Nodes: each entry lives in its own heap node, so references handed to
// visit() stay put across rehashes and large values are never moved — at
// the cost of one allocation per new key. PooledShardedMap recycles those
// nodes.
//
// When to use it: write-heavy workloads with many distinct keys (new keys do
// not trigger the O(N) snapshot copies of ReadMostlyMap).
#pragma once

#include <functional>

#include "absl/container/node_hash_map.h"
#include "absl/hash/hash.h"
#include "syncscope/map/internal/lock_based_map.h"
#include "syncscope/map/internal/node_pool.h"

namespace syncscope::map {

struct ShardedMapOptions : MapOptions {
  std::size_t shards = 64;  // rounded up to a power of two
};

namespace internal {
// Nodes come from std::allocator, one reserved ahead per thread (see
// ReservingAllocator: an insert cannot fail after claiming its slot).
template <class K, class V, class Hash, class Eq>
using ShardedTable =
    absl::node_hash_map<K, V, Hash, Eq,
                        ReservingAllocator<std::pair<const K, V>, std::pair<const K, V>>>;
}  // namespace internal

template <class K, class V, class Hash = absl::Hash<K>, class Eq = std::equal_to<K>>
  requires MapKey<K, Hash, Eq>
class ShardedMap
    : public internal::LockBasedMap<K, V, Hash, Eq, internal::ShardedTable<K, V, Hash, Eq>> {
  using Base = internal::LockBasedMap<K, V, Hash, Eq, internal::ShardedTable<K, V, Hash, Eq>>;

 public:
  explicit ShardedMap(ShardedMapOptions options = {})
      : Base("ShardedMap", options, options.shards) {
    this->register_stats([this] { return this->stats(); });
  }
  ~ShardedMap() { this->unregister_stats(); }
};

}  // namespace syncscope::map
