// The hook fast path under LD_PRELOAD (docs/prof.md, "The fast path"): one
// 64-byte block allocated and freed PAIRS times, through malloc/free or
// operator new/delete, with nothing of syncscope linked. Run it with and
// without libsyncscope_preload.so at SYNCSCOPE_PROFILE_RATE=1073741824 (no
// request sampled) under `perf stat` or `valgrind --tool=callgrind`; the
// difference of two PAIRS counts divided by their difference is the cost
// per pair. prof_fast_path_loop_linked is the same program linked with
// syncscope::prof (the hooks in the program itself), profiler started at a
// 1 GiB rate.
//   prof_fast_path_loop[_linked] PAIRS [malloc|new]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#ifdef SYNCSCOPE_BENCH_WITH_PROF
#include "syncscope/prof/heap_profiler.h"
#endif

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PAIRS [malloc|new]\n", argv[0]);
    return 2;
  }
  const long long pairs = std::atoll(argv[1]);
  const bool use_new = argc > 2 && std::strcmp(argv[2], "new") == 0;
#ifdef SYNCSCOPE_BENCH_WITH_PROF
  syncscope::prof::HeapProfiler::set_sample_rate(std::int64_t{1} << 30);
  syncscope::prof::HeapProfiler::start();
#endif
  unsigned long long sum = 0;
  for (long long i = 0; i < pairs; ++i) {
    void* p = use_new ? ::operator new(64) : std::malloc(64);
    // Opaque to the optimizer, so the pair is neither elided nor merged.
    __asm__ volatile("" : "+r"(p));
    sum += reinterpret_cast<unsigned long long>(p) & 0xff;
    if (use_new) {
      ::operator delete(p, 64);
    } else {
      std::free(p);
    }
  }
  std::printf("%llu\n", sum);
  return 0;
}
