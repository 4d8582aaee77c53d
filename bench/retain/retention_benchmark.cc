// Retention scan cost on a synthetic heap (docs/retain.md):
//   BM_Snapshot/<blocks>/<bytes per block>/<source>: take_snapshot() over a
//     heap of random-graph blocks (3 pointers per block, the rest
//     non-pointer data), with the blocks from the exact live-block table
//     (source 0) or the glibc heap walk (source 1), reporting pause time,
//     scan throughput per core (the scan is one thread), the walk's time and
//     header throughput, analysis time and the scanner's memory per block.
//   BM_Dominators/<nodes>: the dominator tree alone on a synthetic graph.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/live_blocks.h"
#include "syncscope/retain/graph_analysis.h"
#include "syncscope/retain/retention.h"

namespace {

namespace rt = syncscope::retain;

// Heap blocks; reachable from this global vector (itself a block).
std::vector<char*>* g_heap = nullptr;

void build_heap(std::size_t blocks, std::size_t bytes, bool exact) {
  syncscope::prof::HeapProfiler::set_exact_mode(exact);
  g_heap = new std::vector<char*>();
  g_heap->reserve(blocks);
  std::mt19937_64 rng(42);
  for (std::size_t i = 0; i < blocks; ++i) {
    char* b = new char[bytes];
    // Non-pointer payload (small integers, as most heap words are).
    for (std::size_t off = 0; off + 8 <= bytes; off += 8) {
      const std::uint64_t v = rng() & 0xffff;
      std::memcpy(b + off, &v, 8);
    }
    g_heap->push_back(b);
  }
  // Three pointers per block to random blocks: a dense random graph.
  for (std::size_t i = 0; i < blocks; ++i) {
    for (std::size_t k = 0; k < 3 && (k + 1) * 8 <= bytes; ++k) {
      char* target = (*g_heap)[rng() % blocks];
      std::memcpy((*g_heap)[i] + k * 8, &target, 8);
    }
  }
}

void free_heap() {
  for (char* b : *g_heap) delete[] b;
  delete g_heap;
  g_heap = nullptr;
}

void BM_Snapshot(benchmark::State& state) {
  const auto blocks = static_cast<std::size_t>(state.range(0));
  const auto bytes = static_cast<std::size_t>(state.range(1));
  const bool walk = state.range(2) == 1;
  build_heap(blocks, bytes, !walk);
  rt::Options options;
  options.block_source = walk ? rt::BlockSource::kHeapWalk : rt::BlockSource::kExactTable;
  double pause_ns = 0, scanned = 0, analysis_ns = 0, scanner_bytes = 0, graph_bytes = 0, n = 0;
  double scan_cpu_ns = 0, nodes = 0, pause_cpu_ns = 0, walk_ns = 0, walked = 0, stops = 0, wall_ns = 0, child_private = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    absl::StatusOr<rt::RetentionSnapshot> snap = rt::take_snapshot(options);
    wall_ns += static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::steady_clock::now() - t0)
                                       .count());
    if (!snap.ok()) {
      state.SkipWithError(std::string(snap.status().message()).c_str());
      break;
    }
    const rt::SnapshotStats& s = snap->stats();
    pause_ns += static_cast<double>(s.pause_ns);
    pause_cpu_ns += static_cast<double>(s.pause_cpu_ns);
    scan_cpu_ns += static_cast<double>(s.scan_cpu_ns);
    scanned += static_cast<double>(s.bytes_scanned);
    analysis_ns += static_cast<double>(s.analysis_ns);
    scanner_bytes += static_cast<double>(s.scanner_memory_bytes);
    graph_bytes += static_cast<double>(snap->graph().memory_bytes());
    nodes += static_cast<double>(s.blocks);
    walk_ns += static_cast<double>(s.walk_ns);
    walked += static_cast<double>(s.heap_bytes_walked);
    stops += static_cast<double>(s.stop_attempts);
    child_private += static_cast<double>(s.child_private_bytes);
    n += 1;
  }
  if (n > 0) {
    state.counters["blocks"] = nodes / n;
    state.counters["scanned_MiB"] = scanned / n / (1 << 20);
    state.counters["pause_ms"] = pause_ns / n / 1e6;
    // Per core: the scan runs on one thread; CPU time excludes time the
    // (shared) machine gave to other processes. bytes/ns == GB/s.
    state.counters["scan_GB_per_s_core"] = scanned / pause_cpu_ns;
    state.counters["pause_cpu_ms"] = pause_cpu_ns / n / 1e6;
    // The scan alone (in the pause, or in the copy-on-write child).
    state.counters["scan_only_GB_per_s_core"] = scanned / scan_cpu_ns;
    state.counters["pause_ms_per_GiB"] = pause_ns / 1e6 / (scanned / (1u << 30));
    state.counters["analysis_ms"] = analysis_ns / n / 1e6;
    state.counters["scanner_B_per_block"] = scanner_bytes / nodes;
    state.counters["graph_B_per_block"] = graph_bytes / nodes;
    state.counters["snapshot_ms"] = wall_ns / n / 1e6;
    state.counters["snapshot_ms_per_GiB"] = wall_ns / 1e6 / (scanned / (1u << 30));
    if (walk) {
      state.counters["walk_ms"] = walk_ns / n / 1e6;
      state.counters["walk_GB_per_s"] = walked / walk_ns;  // chunk headers of every arena heap
      state.counters["stops"] = stops / n;
      // The copy-on-write child's private memory (its buffers plus pages the
      // program wrote meanwhile): the memory price of the short pause.
      state.counters["child_private_MiB"] = child_private / n / (1 << 20);
    }
  }
  free_heap();
}
BENCHMARK(BM_Snapshot)
    ->Args({100000, 256, 0})
    ->Args({100000, 256, 1})
    ->Args({1000000, 256, 0})
    ->Args({1000000, 256, 1})
    ->Args({1000000, 1024, 0})
    ->Args({1000000, 1024, 1})
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

void BM_Dominators(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  std::mt19937 rng(7);
  rt::GraphBuilder b;
  for (std::size_t i = 0; i < n; ++i) b.add_block(0x10000 + i * 64, 64, static_cast<std::uint32_t>(i % 100));
  const auto root = b.add_root(rt::Root{rt::RootKind::kOther, "r", 0, 8, -1});
  b.add_root_edge_at(root, 0, 0x10000);
  for (std::size_t i = 0; i + 1 < n; ++i) {
    b.add_edge_at(0x10000 + i * 64, 0, 0x10000 + (i + 1) * 64);      // a spine
    b.add_edge_at(0x10000 + i * 64, 8, 0x10000 + (rng() % n) * 64);  // random cross edges
  }
  const rt::ObjectGraph g = std::move(b).build();
  for (auto _ : state) {
    rt::DominatorTree d = rt::compute_dominators(g);
    benchmark::DoNotOptimize(d.retained_bytes.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * n));
}
BENCHMARK(BM_Dominators)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
