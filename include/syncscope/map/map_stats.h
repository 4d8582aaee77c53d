// Statistics every map keeps, cheap enough to leave on: counters live in
// per-thread stripes (never one hot shared counter) and are summed on read.
#pragma once

#include <cstdint>
#include <string>

namespace syncscope::map {

// A point-in-time sum of a map's counters. Counters are monotonic totals
// since construction; gauges are current values. Sums of stripes are read
// without stopping writers, so a snapshot may mix slightly different instants.
struct MapStats {
  std::string kind;                     // "ReadMostlyMap", "LockedMap", ...
  // Counters.
  std::uint64_t hits = 0;               // loads answered from the lock-free snapshot (ReadMostlyMap) or found (lock-based maps)
  std::uint64_t misses = 0;             // ReadMostlyMap: lookups that fell through to the locked dirty map; others: loads that found nothing
  std::uint64_t promotions = 0;         // ReadMostlyMap: dirty map promoted to read snapshot
  std::uint64_t dirty_rebuilds = 0;     // ReadMostlyMap: dirty map rebuilt by copying the snapshot
  std::uint64_t expunges = 0;           // ReadMostlyMap: deleted entries marked expunged during rebuilds
  std::uint64_t compactions = 0;        // ReadMostlyMap: rebuilds forced to drop deleted entries
  std::uint64_t pool_reuses = 0;        // PooledShardedMap: nodes served from a free list
  std::uint64_t pool_allocations = 0;   // PooledShardedMap: nodes that needed the allocator
  // Gauges.
  std::int64_t live_entries = 0;        // approximate number of keys (same as size())
  std::uint64_t retired_objects = 0;    // ReadMostlyMap: retired but not yet freed (reclamation backlog)
  std::uint64_t retired_bytes = 0;      // ...their bytes
  std::uint64_t pinned_readers = 0;     // threads currently pinned in the epoch domain (process-wide)
  std::uint64_t pool_cached_nodes = 0;  // PooledShardedMap: nodes sitting in free lists
};

}  // namespace syncscope::map
