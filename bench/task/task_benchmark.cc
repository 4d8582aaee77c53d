// Costs of tracking: tracked spawn+run+finish against a bare pool with the
// same queue (tracing off and on), the flight recorder on a task-heavy loop,
// and an all-thread stack dump of 100 threads.
//
//   cmake -S . -B build-task -DSYNCSCOPE_BUILD_BENCH=ON && cmake --build build-task --target task_benchmark
//   build-task/bin/task_benchmark --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "bare_pool.h"
#include "syncscope/task/task.h"

namespace st = syncscope::task;

namespace {

constexpr int kBatch = 2000;  // tasks per iteration
constexpr unsigned kWorkers = 2;

// A small unit of work (~a few hundred ns) so the per-task overhead shows.
inline void work(std::uint64_t seed, int rounds) {
  std::uint64_t x = seed;
  for (int i = 0; i < rounds; ++i) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  benchmark::DoNotOptimize(x);
}

void wait_done(std::atomic<int>& remaining) {
  while (remaining.load(std::memory_order_acquire) > 0) std::this_thread::yield();
}

void BM_BarePoolSubmit(benchmark::State& state) {
  const int rounds = static_cast<int>(state.range(0));
  BarePool pool(kWorkers);
  for (auto _ : state) {
    std::atomic<int> remaining{kBatch};
    for (int i = 0; i < kBatch; ++i) {
      pool.submit([&, i] {
        work(i, rounds);
        remaining.fetch_sub(1, std::memory_order_release);
      });
    }
    wait_done(remaining);
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

// range(0): work rounds; range(1): 0 = tracing off, 1 = on; range(2): capture spawn stack.
void BM_TrackedSpawn(benchmark::State& state) {
  const int rounds = static_cast<int>(state.range(0));
  const bool traced = state.range(1) != 0;
  const st::SpawnOptions options{.capture_stack = state.range(2) != 0};
  st::clear_trace();
  if (traced) st::start_tracing();
  {
    st::Executor ex({.name = "bench", .workers = kWorkers, .queue_capacity = 1 << 16});
    for (auto _ : state) {
      std::atomic<int> remaining{kBatch};
      for (int i = 0; i < kBatch; ++i) {
        ex.spawn("bench-task", [&, i] {
          work(i, rounds);
          remaining.fetch_sub(1, std::memory_order_release);
        }, options);
      }
      wait_done(remaining);
    }
  }
  st::stop_tracing();
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["overwritten"] = static_cast<double>(st::trace_stats().events_overwritten);
  st::clear_trace();
}

// A task-heavy loop in which every task also enters a blocking scope (as a
// real task waiting on I/O would): the flight recorder's throughput cost.
void BM_TaskHeavyLoop(benchmark::State& state) {
  const bool traced = state.range(0) != 0;
  st::clear_trace();
  if (traced) st::start_tracing();
  {
    st::Executor ex({.name = "heavy", .workers = kWorkers, .queue_capacity = 1 << 16});
    for (auto _ : state) {
      std::atomic<int> remaining{kBatch};
      for (int i = 0; i < kBatch; ++i) {
        ex.spawn("heavy-task", [&, i] {
          work(i, 2000);
          {
            auto b = st::blocking("simulated io");
            work(i + 1, 200);
          }
          remaining.fetch_sub(1, std::memory_order_release);
        });
      }
      wait_done(remaining);
    }
  }
  st::stop_tracing();
  state.SetItemsProcessed(state.iterations() * kBatch);
  st::clear_trace();
}

void BM_DumpAllThreads(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> parked{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&] {
      std::unique_lock lock(mu);
      parked.fetch_add(1);
      cv.wait(lock, [&] { return release; });
    });
  }
  while (parked.load() < n) std::this_thread::yield();
  std::size_t captured = 0;
  for (auto _ : state) {
    auto dump = st::dump_all_threads({.timeout = std::chrono::milliseconds(5000)});
    captured = 0;
    for (const auto& t : dump) captured += t.status == st::CaptureStatus::kOk ? 1 : 0;
    benchmark::DoNotOptimize(dump.data());
  }
  state.counters["threads_captured"] = static_cast<double>(captured);
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();
}

}  // namespace

BENCHMARK(BM_BarePoolSubmit)->Arg(0)->Arg(200)->UseRealTime();
BENCHMARK(BM_TrackedSpawn)
    ->Args({0, 0, 1})->Args({0, 0, 0})->Args({0, 1, 1})
    ->Args({200, 0, 1})->Args({200, 1, 1})
    ->ArgNames({"work", "trace", "stack"})->UseRealTime();
BENCHMARK(BM_TaskHeavyLoop)->Arg(0)->Arg(1)->ArgName("trace")->UseRealTime();
BENCHMARK(BM_DumpAllThreads)->Arg(100)->ArgName("threads")->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
