// The write paths of the five designs, one piece at a time, single thread
// (issue 19's breakdown in docs/maps.md):
//   SwapHit        swap() of a key already in the map (ReadMostlyMap: the
//                  value box; lock-based maps: one exclusive shard lock)
//   StoreExisting  store() of a key already in the map
//   InsertUnique   load_or_store() of a new key each time (table growth,
//                  node allocation, ReadMostlyMap's dirty map)
//   build/bin/map_write_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>

#include "syncscope/map/maps.h"

namespace {

using namespace syncscope::map;

constexpr std::int64_t kKeys = 1024;

// A map holding kKeys keys, promoted so ReadMostlyMap serves them from its
// read snapshot (as in Go's benchmarks after their priming loads).
template <class M>
std::unique_ptr<M> primed_map() {
  auto m = std::make_unique<M>();
  for (std::int64_t i = 0; i < kKeys; ++i) m->load_or_store(i, i);
  for (std::int64_t i = 0; i < 2 * kKeys; ++i) benchmark::DoNotOptimize(m->load(i % kKeys));
  return m;
}

template <class M>
void BM_SwapHit(benchmark::State& state) {
  auto m = primed_map<M>();
  std::int64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m->swap(i & (kKeys - 1), i));
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

template <class M>
void BM_StoreExisting(benchmark::State& state) {
  auto m = primed_map<M>();
  std::int64_t i = 0;
  for (auto _ : state) {
    m->store(i & (kKeys - 1), i);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

template <class M>
void BM_InsertUnique(benchmark::State& state) {
  auto m = std::make_unique<M>();
  std::int64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m->load_or_store(i, i));
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}  // destroying the keys happens after the timed loop

using I = std::int64_t;
#define SYNCSCOPE_WRITE_BENCH(fn, map) BENCHMARK(fn<map<I, I>>)->Name(#fn "/" #map)
SYNCSCOPE_WRITE_BENCH(BM_SwapHit, ReadMostlyMap);
SYNCSCOPE_WRITE_BENCH(BM_SwapHit, LockedMap);
SYNCSCOPE_WRITE_BENCH(BM_SwapHit, ShardedMap);
SYNCSCOPE_WRITE_BENCH(BM_SwapHit, FlatGroupMap);
SYNCSCOPE_WRITE_BENCH(BM_StoreExisting, ReadMostlyMap);
SYNCSCOPE_WRITE_BENCH(BM_StoreExisting, LockedMap);
SYNCSCOPE_WRITE_BENCH(BM_StoreExisting, ShardedMap);
SYNCSCOPE_WRITE_BENCH(BM_StoreExisting, FlatGroupMap);
SYNCSCOPE_WRITE_BENCH(BM_InsertUnique, ReadMostlyMap);
SYNCSCOPE_WRITE_BENCH(BM_InsertUnique, LockedMap);
SYNCSCOPE_WRITE_BENCH(BM_InsertUnique, ShardedMap);
SYNCSCOPE_WRITE_BENCH(BM_InsertUnique, PooledShardedMap);
SYNCSCOPE_WRITE_BENCH(BM_InsertUnique, FlatGroupMap);
#undef SYNCSCOPE_WRITE_BENCH

}  // namespace

BENCHMARK_MAIN();
