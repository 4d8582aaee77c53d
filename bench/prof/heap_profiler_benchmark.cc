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
// runs with UNW_CACHE_NONE; docs/prof.md, "The loader lock"), and the three
// walks capture_stack chooses between.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <vector>

#include "alloc_workload.h"

#ifdef SYNCSCOPE_BENCH_WITH_PROF
#include "prof/address_profile.h"
#include "prof/loaded_modules.h"
#include "prof/shape_unwind/shape_walk.h"
#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/profile_builder.h"
#include "syncscope/prof/stack_trace.h"
#include "syncscope/prof/symbolizer.h"

#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <libunwind.h>
#include <unwind.h>
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

// The hook fast path against glibc in the same run (issue 16, item 3).
// Glibc/*: the loop calls glibc's allocator directly (__libc_malloc and
// __libc_free, what the interposers forward to), so no hook runs. Hooked/*:
// the same loop through malloc/free with the profiler running, at a 1 GiB
// sampling period (arg 0: no allocation is sampled, so this is the unsampled
// fast path alone) or at the default 512 KiB (arg 1: sampling amortized).
// Two loops: one 64-byte block allocated and freed (everything in L1), and
// the alloc_workload window (4096 live blocks of 8..4096 bytes, random
// replacement). The per-operation difference Hooked - Glibc is the hooks' cost.
extern "C" void* __libc_malloc(std::size_t);
extern "C" void __libc_free(void*);

struct GlibcDirect {
  static void* alloc(std::size_t n) { return __libc_malloc(n); }
  static void release(void* p) { __libc_free(p); }
};
struct ThroughHooks {
  static void* alloc(std::size_t n) { return std::malloc(n); }
  static void release(void* p) { std::free(p); }
};
struct ThroughNewDelete {
  static void* alloc(std::size_t n) { return ::operator new(n); }
  static void release(void* p) { ::operator delete(p); }
};

template <class A>
void fast_loop(benchmark::State& state, bool window) {
  std::vector<void*> blocks(kWindow, nullptr);
  std::uint64_t x = 0x9e3779b97f4a7c15ull, sum = 0;
  for (auto _ : state) {
    for (std::int64_t i = 0; i < kOpsPerIteration; ++i) {
      if (!window) {
        void* p = A::alloc(64);
        benchmark::DoNotOptimize(p);
        A::release(p);
        continue;
      }
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      const std::size_t slot = x % kWindow;
      A::release(blocks[slot]);
      auto* p = static_cast<unsigned char*>(A::alloc(8 + (x >> 20) % 4089));
      p[0] = static_cast<unsigned char>(i);
      sum += p[0];
      blocks[slot] = p;
    }
  }
  for (void* p : blocks) A::release(p);
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations() * kOpsPerIteration);
}

void BM_FastPath_Glibc(benchmark::State& state) {
  HeapProfiler::stop();
  fast_loop<GlibcDirect>(state, state.range(0) == 1);
}
void BM_FastPath_Hooked(benchmark::State& state) {
  HeapProfiler::set_sample_rate(state.range(1) == 0 ? std::int64_t{1} << 30
                                                    : HeapProfiler::kDefaultSampleRate);
  HeapProfiler::start();
  fast_loop<ThroughHooks>(state, state.range(0) == 1);
  HeapProfiler::stop();
  HeapProfiler::set_sample_rate(HeapProfiler::kDefaultSampleRate);
}
// The same through operator new/delete (C++ programs' usual path).
void BM_FastPath_HookedNew(benchmark::State& state) {
  HeapProfiler::set_sample_rate(state.range(1) == 0 ? std::int64_t{1} << 30
                                                    : HeapProfiler::kDefaultSampleRate);
  HeapProfiler::start();
  fast_loop<ThroughNewDelete>(state, state.range(0) == 1);
  HeapProfiler::stop();
  HeapProfiler::set_sample_rate(HeapProfiler::kDefaultSampleRate);
}
// Alternated A B A B; args: {window, sampled}.
BENCHMARK(BM_FastPath_Glibc)->Args({0, 0});
BENCHMARK(BM_FastPath_Hooked)->Args({0, 0});
BENCHMARK(BM_FastPath_Hooked)->Args({0, 1});
BENCHMARK(BM_FastPath_HookedNew)->Args({0, 0});
BENCHMARK(BM_FastPath_Glibc)->Args({1, 0});
BENCHMARK(BM_FastPath_Hooked)->Args({1, 0});
BENCHMARK(BM_FastPath_Hooked)->Args({1, 1});

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

// The preload's dump of 1,000 sampled stacks (issue 16, item 2): depth 24,
// pcs drawn from 4,000 real code addresses of this binary, as the profile
// the LD_PRELOAD object writes at exit (arg 0: addresses, complete
// mappings and symbol-table names; the module list and the symbol tables
// are read afresh every iteration, as at exit) or as the symbolized writer
// builds it (arg 1: libdw; warm after the first iteration, when its caches
// hold every pc: a process's one exit dump pays the cold cost).
void BM_Dump_1000Stacks(benchmark::State& state) {
  const std::vector<LoadedModule> mods = internal::loaded_modules();
  const LoadedModule& exe = mods.front();
  std::mt19937_64 rng(2);
  std::vector<std::uintptr_t> pool(4000);
  for (auto& pc : pool) pc = exe.start + 1 + rng() % (exe.limit - exe.start - 1);
  HeapSnapshot snap;
  snap.sample_rate = 524288;
  for (int s = 0; s < 1000; ++s) {
    HeapSample hs;
    hs.site = static_cast<std::uint32_t>(s + 1);
    for (int d = 0; d < 24; ++d) hs.pcs.push_back(pool[rng() % pool.size()]);
    hs.alloc_objects = hs.inuse_objects = 1;
    hs.alloc_bytes = hs.inuse_bytes = 4096;
    snap.samples.push_back(std::move(hs));
  }
  std::size_t bytes = 0;
  for (auto _ : state) {
    bytes = state.range(0) == 0 ? internal::address_profile_bytes(snap, internal::loaded_modules()).size()
                                : snap.to_pprof().size();
  }
  state.counters["profile_bytes"] = static_cast<double>(bytes);
  state.SetLabel(state.range(0) == 0 ? "addresses" : "symbolized");
}
BENCHMARK(BM_Dump_1000Stacks)->Arg(0)->Arg(1)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

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

// The four walks capture_stack chooses between (shape_walk.h,
// fast_unwind_places.h), on the same stack, 40 frames below the loop plus
// the benchmark's own:
//   0  unw_backtrace, libunwind's per-thread cache (a thread with a place)
//   1  libgcc's _Unwind_Backtrace, taken from libgcc_s by version (libunwind
//      exports an unversioned one too): what the LD_PRELOAD object's threads
//      without a place use, from its own static copy
//   2  stepping with libunwind from a snapshot, no cache: the library's
//      threads without a place
//   3  the shape walk, tried first by every capture (its table warm after
//      the first iteration)
// libgcc's pair, both by version: a call by name to either could reach
// libunwind's unversioned copy, and the two do not mix.
struct LibgccUnwinder {
  _Unwind_Reason_Code (*backtrace)(_Unwind_Trace_Fn, void*) = nullptr;
  _Unwind_Ptr (*get_ip)(_Unwind_Context*) = nullptr;
};
LibgccUnwinder libgcc_unwinder() {
  LibgccUnwinder u;
  if (void* libgcc = dlopen("libgcc_s.so.1", RTLD_NOW)) {
    u.backtrace = reinterpret_cast<decltype(u.backtrace)>(dlvsym(libgcc, "_Unwind_Backtrace", "GCC_3.3"));
    u.get_ip = reinterpret_cast<decltype(u.get_ip)>(dlvsym(libgcc, "_Unwind_GetIP", "GCC_3.0"));
  }
  return u;
}
struct WalkCount {
  const LibgccUnwinder* unwinder;
  int frames = 0;
};
_Unwind_Reason_Code count_frame(_Unwind_Context* context, void* arg) {
  WalkCount& count = *static_cast<WalkCount*>(arg);
  if (count.unwinder->get_ip(context) == 0) return _URC_END_OF_STACK;
  ++count.frames;
  return _URC_NO_REASON;
}
__attribute__((noinline)) int walk_at_depth(int depth, int walk, const LibgccUnwinder& gcc) {
  if (depth > 0) return walk_at_depth(depth - 1, walk, gcc) + 1;
  if (walk == 0) {
    void* pcs[128];
    return unw_backtrace(pcs, 128);
  }
  if (walk == 1) {
    WalkCount count{&gcc};
    gcc.backtrace(count_frame, &count);
    return count.frames;
  }
  if (walk == 3) {
    std::uintptr_t pcs[128];
    return internal::walk_frame_shapes(pcs, 128);
  }
  unw_context_t context;
  unw_cursor_t cursor;
  if (unw_getcontext(&context) != 0 || unw_init_local(&cursor, &context) != 0) return 0;
  int frames = 1;
  while (frames < 128 && unw_step(&cursor) > 0) ++frames;
  return frames;
}
void BM_CaptureWalks(benchmark::State& state) {
  const int walk = static_cast<int>(state.range(0));
  const LibgccUnwinder gcc = libgcc_unwinder();
  if (walk == 1 && (gcc.backtrace == nullptr || gcc.get_ip == nullptr)) {
    state.SkipWithError("libgcc_s.so.1's _Unwind_Backtrace or _Unwind_GetIP not found");
    return;
  }
  int frames = 0;
  for (auto _ : state) frames = walk_at_depth(40, walk, gcc);
  if (frames <= 0) state.SkipWithError("the walk refused");
  state.counters["frames"] = frames;
  static constexpr const char* kNames[] = {"unw_backtrace (cache)", "libgcc _Unwind_Backtrace", "unw_step, no cache",
                                           "shape walk"};
  state.SetLabel(kNames[walk]);
}
BENCHMARK(BM_CaptureWalks)->Arg(3)->Arg(0)->Arg(1)->Arg(2)->Arg(3)->Arg(0)->Arg(1)->Arg(2);

#endif

}  // namespace
}  // namespace syncscope::prof::bench

BENCHMARK_MAIN();
