// CPU-profiler overhead: the same fixed CPU-bound work, run alternately with
// and without a CPU profile (prof::profile_cpu) sampling every thread at
// --hz, REPS times each; reports the medians and their ratios.
//
//   build/bin/prof_cpu_profile_overhead [--threads 2] [--work 200] [--reps 5] [--hz 100] [--json F]
//
// Figures (CPU time, not wall time, so other load on the machine matters
// less): worker CPU = the workers' own CPU clocks (the signal handler's cost
// is charged to the thread it interrupts); process CPU = the whole process
// (adds the profiling thread, which unwinds the copied stacks).
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "syncscope/prof/cpu_profiler.h"

namespace {

double cpu_seconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

volatile std::uint64_t g_sink;

// A few frames deep, so the unwinding after each sample does real work.
__attribute__((noinline)) std::uint64_t mix(std::uint64_t x, int depth, std::uint64_t n) {
  if (depth > 0) return mix(x + 1, depth - 1, n) ^ static_cast<std::uint64_t>(depth);
  for (std::uint64_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}

// Runs `threads` workers over `chunks` chunks each; returns {worker CPU s, process CPU s}.
std::pair<double, double> run_work(int threads, int chunks, bool profiled, int hz) {
  std::mutex mu;
  std::condition_variable cv;
  bool go = false;
  std::vector<double> worker_cpu(static_cast<std::size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return go; });
      }
      const double start = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
      std::uint64_t x = static_cast<std::uint64_t>(t) + 1;
      for (int c = 0; c < chunks; ++c) x = mix(x, 8, 1'000'000);
      g_sink = x;
      worker_cpu[static_cast<std::size_t>(t)] = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - start;
    });
  }
  std::atomic<bool> done{false};
  std::thread profiler;
  syncscope::prof::CpuProfileResult result;
  if (profiled) {
    profiler = std::thread([&] {
      syncscope::prof::CpuProfileOptions o;
      o.hz = hz;
      o.duration = std::chrono::minutes(5);
      o.cancelled = [&] { return done.load(std::memory_order_acquire); };  // acquire: pairs below
      result = syncscope::prof::profile_cpu(o);
    });
    // The workers exist before the profile starts, so its first scan arms
    // them all; wait for SIGPROF's handler as the sign it started.
    for (int i = 0; i < 5000; ++i) {
      struct sigaction sa {};
      sigaction(SIGPROF, nullptr, &sa);
      if ((sa.sa_flags & SA_SIGINFO) != 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // arming follows installation
  }
  const double process_start = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID);
  {
    std::lock_guard lock(mu);
    go = true;
  }
  cv.notify_all();
  for (std::thread& w : workers) w.join();
  const double process_cpu = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID) - process_start;
  if (profiled) {
    done.store(true, std::memory_order_release);  // release: pairs with the cancel predicate
    profiler.join();
    if (result.status != syncscope::prof::CpuProfileStatus::kOk) {
      std::fprintf(stderr, "profile failed: %s\n", result.message.c_str());
      std::exit(1);
    }
  }
  double sum = 0;
  for (double c : worker_cpu) sum += c;
  return {sum, process_cpu};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, chunks = 200, reps = 5, hz = 100;
  std::string json;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int value = std::atoi(argv[i + 1]);
    if (flag == "--threads") threads = value;
    else if (flag == "--work") chunks = value;
    else if (flag == "--reps") reps = value;
    else if (flag == "--hz") hz = value;
    else if (flag == "--json") json = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (threads < 1 || chunks < 1 || reps < 1 || hz < 1 || hz > syncscope::prof::kMaxCpuProfileHz) {
    std::fprintf(stderr, "bad arguments\n");
    return 2;
  }
  std::vector<double> base_worker, base_process, prof_worker, prof_process;
  run_work(threads, chunks / 4 + 1, false, hz);  // warm-up
  for (int r = 0; r < reps; ++r) {
    auto [bw, bp] = run_work(threads, chunks, false, hz);
    auto [pw, pp] = run_work(threads, chunks, true, hz);
    base_worker.push_back(bw);
    base_process.push_back(bp);
    prof_worker.push_back(pw);
    prof_process.push_back(pp);
  }
  const double bw = median(base_worker), bp = median(base_process);
  const double pw = median(prof_worker), pp = median(prof_process);
  std::printf("| threads | hz | worker CPU off (s) | on (s) | overhead | process CPU off (s) | on (s) | overhead |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  std::printf("| %d | %d | %.3f | %.3f | %+.2f%% | %.3f | %.3f | %+.2f%% |\n", threads, hz, bw, pw,
              (pw / bw - 1) * 100, bp, pp, (pp / bp - 1) * 100);
  if (!json.empty()) {
    std::ofstream(json) << "{\"threads\":" << threads << ",\"hz\":" << hz << ",\"reps\":" << reps
                        << ",\"worker_cpu_s\":{\"off\":" << bw << ",\"on\":" << pw
                        << "},\"process_cpu_s\":{\"off\":" << bp << ",\"on\":" << pp
                        << "},\"worker_overhead\":" << (pw / bw - 1)
                        << ",\"process_overhead\":" << (pp / bp - 1) << "}\n";
  }
  return 0;
}
