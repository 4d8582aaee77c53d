// Inserting 2^19 new int64 keys, in ascending order (as mapbench's
// LoadOrStoreUnique does: key i at step i) and in a shuffled order, into
// FlatGroupMap and into oneTBB's concurrent_unordered_map (the peer that
// leads that workload). Single thread; each iteration builds a fresh map.
// The question it answers (docs/maps.md): how much of the peer's lead on
// LoadOrStoreUnique is the key order. TBB's default hash of an integer is
// the integer itself, so ascending keys land in adjacent buckets and nodes
// that the previous inserts just touched; FlatGroupMap mixes every hash and
// pays a cache miss per new key in either order.
//   build/bin/map_insert_order_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include <tbb/concurrent_unordered_map.h>

#include "syncscope/map/flat_group_map.h"

namespace {

constexpr std::int64_t kKeys = std::int64_t{1} << 19;

const std::vector<std::int64_t>& keys(bool shuffled) {
  static const std::vector<std::int64_t> ascending = [] {
    std::vector<std::int64_t> v(kKeys);
    std::iota(v.begin(), v.end(), 0);
    return v;
  }();
  static const std::vector<std::int64_t> random_order = [] {
    std::vector<std::int64_t> v = ascending;
    std::shuffle(v.begin(), v.end(), std::mt19937_64(19));
    return v;
  }();
  return shuffled ? random_order : ascending;
}

void BM_FlatGroupMap(benchmark::State& state) {
  const auto& order = keys(state.range(0) != 0);
  for (auto _ : state) {
    syncscope::map::FlatGroupMap<std::int64_t, std::int64_t> m;
    for (std::int64_t k : order) benchmark::DoNotOptimize(m.load_or_store(k, k));
  }
  state.SetItemsProcessed(state.iterations() * kKeys);
}

void BM_TbbUnorderedMap(benchmark::State& state) {
  const auto& order = keys(state.range(0) != 0);
  for (auto _ : state) {
    tbb::concurrent_unordered_map<std::int64_t, std::atomic<std::int64_t>> m;
    for (std::int64_t k : order) benchmark::DoNotOptimize(m.emplace(k, k));
  }
  state.SetItemsProcessed(state.iterations() * kKeys);
}

BENCHMARK(BM_FlatGroupMap)->ArgName("shuffled")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_TbbUnorderedMap)->ArgName("shuffled")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
