// Load hits on a 1,000-key int64 map, for the four designs in one run (the
// figure issue reports quote as ratios against LockedMap). Keys are visited
// in a scrambled order so the hardware prefetcher cannot hide table misses.
//   build/bin/map_benchmark --benchmark_filter=LoadHit
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "syncscope/map/maps.h"

namespace {

using namespace syncscope::map;

constexpr std::int64_t kKeys = 1000;

std::vector<std::int64_t> scrambled_keys() {
  std::vector<std::int64_t> keys(kKeys);
  for (std::int64_t i = 0; i < kKeys; ++i) keys[i] = (i * 7919) % kKeys;
  return keys;
}

template <class M>
void BM_LoadHit(benchmark::State& state) {
  static M* map = nullptr;
  if (state.thread_index() == 0) {
    map = new M();
    for (std::int64_t i = 0; i < kKeys; ++i) map->store(i, i);
    // ReadMostlyMap: keys stored after construction sit in the dirty map
    // until misses promote them; warm up so hits come from the snapshot.
    for (int round = 0; round < 4; ++round) {
      for (std::int64_t i = 0; i < kKeys; ++i) benchmark::DoNotOptimize(map->load(i));
    }
  }
  const std::vector<std::int64_t> keys = scrambled_keys();
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 97;
  std::int64_t sum = 0;
  for (auto _ : state) {
    sum += *map->load(keys[i]);
    if (++i == keys.size()) i = 0;
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete map;
    map = nullptr;
  }
}

BENCHMARK(BM_LoadHit<LockedMap<std::int64_t, std::int64_t>>)->Name("LoadHit/LockedMap")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_LoadHit<ReadMostlyMap<std::int64_t, std::int64_t>>)->Name("LoadHit/ReadMostlyMap")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_LoadHit<ShardedMap<std::int64_t, std::int64_t>>)->Name("LoadHit/ShardedMap")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_LoadHit<PooledShardedMap<std::int64_t, std::int64_t>>)->Name("LoadHit/PooledShardedMap")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_LoadHit<FlatGroupMap<std::int64_t, std::int64_t>>)->Name("LoadHit/FlatGroupMap")->Threads(1)->Threads(2)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
