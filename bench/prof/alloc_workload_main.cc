// A plain program around alloc_workload.h for whole-process tools (heaptrack,
// LD_PRELOAD): prof_alloc_workload THREADS OPS_PER_THREAD [off|sample|exact].
// Prints the wall time. The mode argument only matters in the variant that
// links syncscope::prof (prof_alloc_workload_linked).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "alloc_workload.h"

#ifdef SYNCSCOPE_BENCH_WITH_PROF
#include "syncscope/prof/heap_profiler.h"
#endif

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s THREADS OPS_PER_THREAD [off|sample|exact]\n", argv[0]);
    return 2;
  }
  const int threads = std::atoi(argv[1]);
  const long long ops = std::atoll(argv[2]);
  const std::string mode = argc > 3 ? argv[3] : "off";
  if (threads < 1 || threads > 64 || ops < 1 || (mode != "off" && mode != "sample" && mode != "exact")) {
    std::fprintf(stderr, "bad arguments: THREADS in 1..64, OPS_PER_THREAD >= 1, mode off|sample|exact\n");
    return 2;
  }
#ifdef SYNCSCOPE_BENCH_WITH_PROF
  if (mode != "off") syncscope::prof::HeapProfiler::start();
  syncscope::prof::HeapProfiler::set_exact_mode(mode == "exact");
#endif
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  std::vector<std::uint64_t> sums(static_cast<std::size_t>(threads));
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] { sums[t] = syncscope::prof::bench::run_alloc_free(t + 1, ops); });
  }
  for (auto& th : pool) th.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::uint64_t sum = 0;
  for (auto v : sums) sum += v;
  std::printf("threads=%d ops=%lld mode=%s seconds=%.4f ns_per_op=%.2f checksum=%llu\n", threads, ops,
              mode.c_str(), s, s * 1e9 / static_cast<double>(ops), static_cast<unsigned long long>(sum));
  return 0;
}
