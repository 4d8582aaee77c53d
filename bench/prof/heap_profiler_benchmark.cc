// Google Benchmark: cost of the heap profiler on an allocation-heavy loop
// (alloc_workload.h) at 1 and 2 threads. The same loop without syncscope
// linked at all is prof_alloc_baseline_benchmark (same source, no prof).
//
//   Hooks/Off     interposers linked, profiler stopped (counters only)
//   Hooks/Sample  sampling at the default 512 KiB
//   Hooks/Exact   exact mode (every live block tracked) + default sampling
//
// Also the pprof writer: 10^5 distinct stacks to a gzipped profile, and the
// hooks' stack capture under libunwind's two cache policies (the profiler
// runs with UNW_CACHE_NONE; docs/prof.md, "The loader lock").
#include <benchmark/benchmark.h>

#include <random>

#include "alloc_workload.h"

#ifdef SYNCSCOPE_BENCH_WITH_PROF
#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/profile_builder.h"
#include "syncscope/prof/stack_trace.h"
#include "syncscope/prof/symbolizer.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>
#endif

namespace syncscope::prof::bench {
namespace {

constexpr std::int64_t kOpsPerIteration = 1 << 16;

void run_loop(benchmark::State& state) {
  std::uint64_t sum = 0;
  for (auto _ : state) {
    sum += run_alloc_free(0x9e3779b97f4a7c15ull + static_cast<std::uint64_t>(state.thread_index()),
                          kOpsPerIteration);
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations() * kOpsPerIteration);
}

#ifndef SYNCSCOPE_BENCH_WITH_PROF

void BM_AllocFree_NoProfiler(benchmark::State& state) { run_loop(state); }
BENCHMARK(BM_AllocFree_NoProfiler)->Threads(1)->Threads(2)->UseRealTime();

#else

enum class Mode { kOff, kSample, kExact };

void set_mode(Mode m) {
  HeapProfiler::set_sample_rate(HeapProfiler::kDefaultSampleRate);
  if (m == Mode::kOff) HeapProfiler::stop(); else HeapProfiler::start();
  HeapProfiler::set_exact_mode(m == Mode::kExact);
}

template <Mode M>
void BM_AllocFree_Hooks(benchmark::State& state) {
  if (state.thread_index() == 0) set_mode(M);
  run_loop(state);
  if (state.thread_index() == 0) set_mode(Mode::kOff);
}
BENCHMARK(BM_AllocFree_Hooks<Mode::kOff>)->Name("BM_AllocFree_HooksOff")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_AllocFree_Hooks<Mode::kSample>)->Name("BM_AllocFree_Sample512K")->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_AllocFree_Hooks<Mode::kExact>)->Name("BM_AllocFree_Exact")->Threads(1)->Threads(2)->UseRealTime();

// 10^5 distinct stacks of depth 24 drawn from real code addresses of this
// binary (so symbolization does real work), built and gzipped.
void BM_WriteProfile_100kStacks(benchmark::State& state) {
  std::vector<LoadedModule> mods = Symbolizer::instance().modules();
  const LoadedModule& exe = mods.front();
  std::mt19937_64 rng(1);
  std::vector<std::uintptr_t> pool(4000);
  for (auto& pc : pool) pc = exe.start + 1 + rng() % (exe.limit - exe.start - 1);
  constexpr int kStacks = 100000, kDepth = 24;
  std::vector<std::uintptr_t> stacks(static_cast<std::size_t>(kStacks) * kDepth);
  for (auto& pc : stacks) pc = pool[rng() % pool.size()];
  std::size_t bytes = 0;
  for (auto _ : state) {
    ProfileBuilder b({{"alloc_objects", "count"}, {"alloc_space", "bytes"},
                      {"inuse_objects", "count"}, {"inuse_space", "bytes"}},
                     {"space", "bytes"}, 524288, "inuse_space");
    for (int s = 0; s < kStacks; ++s) {
      const std::int64_t v[] = {1, 4096, 1, 4096};
      b.add_sample({&stacks[static_cast<std::size_t>(s) * kDepth], kDepth}, v);
    }
    bytes = b.serialize_gzipped().size();
  }
  state.counters["profile_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_WriteProfile_100kStacks)->Unit(benchmark::kMillisecond)->Iterations(3);

__attribute__((noinline)) int capture_at_depth(int depth) {
  if (depth > 0) return capture_at_depth(depth - 1) + 1;
  std::uintptr_t pcs[kMaxStackDepth];
  return capture_stack(pcs, kMaxStackDepth, 0);
}

// capture_stack from 4 frames below the benchmark loop, with libunwind's
// global unwind-info cache (arg 1) or without it (arg 0, what the profiler
// uses). Both policies run in the same process, one after the other.
void BM_CaptureStack(benchmark::State& state) {
  const bool global_cache = state.range(0) != 0;
  unw_set_caching_policy(unw_local_addr_space, global_cache ? UNW_CACHE_GLOBAL : UNW_CACHE_NONE);
  int frames = 0;
  for (auto _ : state) frames = capture_at_depth(4);
  unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_NONE);  // the profiler's setting
  state.counters["frames"] = frames;
  state.SetLabel(global_cache ? "UNW_CACHE_GLOBAL" : "UNW_CACHE_NONE");
}
BENCHMARK(BM_CaptureStack)->Arg(0)->Arg(1)->Arg(0)->Arg(1);

#endif

}  // namespace
}  // namespace syncscope::prof::bench

BENCHMARK_MAIN();
