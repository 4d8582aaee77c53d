// Umbrella header: the five concurrent maps and their common API.
#pragma once

#include <string>

#include "syncscope/map/concurrent_map.h"
#include "syncscope/map/flat_group_map.h"
#include "syncscope/map/locked_map.h"
#include "syncscope/map/map_events.h"
#include "syncscope/map/map_registry.h"
#include "syncscope/map/map_stats.h"
#include "syncscope/map/pooled_sharded_map.h"
#include "syncscope/map/read_mostly_map.h"
#include "syncscope/map/sharded_map.h"

namespace syncscope::map {
static_assert(ConcurrentMap<ReadMostlyMap<long, long>>);
static_assert(ConcurrentMap<LockedMap<long, long>>);
static_assert(ConcurrentMap<ShardedMap<long, long>>);
static_assert(ConcurrentMap<PooledShardedMap<long, long>>);
static_assert(ConcurrentMap<FlatGroupMap<long, long>>);
static_assert(ConcurrentMap<FlatGroupMap<std::string, std::string>>);
}  // namespace syncscope::map
