// Runs one workload on one system at one thread count for a fixed duration,
// the way Go's b.RunParallel measures: all threads start together, each runs
// the workload's loop body until told to stop, and ns/op is the wall time of
// the whole region divided by the total number of operations.
//
// Go gives goroutine g the loop counter start g*b.N so that "unique" keys
// never collide across goroutines; with a duration instead of b.N we start
// thread t at t * 2^40, which is disjoint for any run that fits in memory.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <tuple>
#include <vector>

#include "alloc_counter.h"
#include "ops.h"
#include "record.h"
#include "workloads.h"

namespace syncscope::mapbench {

// Raw totals of one run; turned into a Record by the caller.
struct RunTotals {
  std::uint64_t ops = 0;
  std::int64_t wall_ns = 0;
  std::uint64_t allocations = 0;
  ThreadState sum;  // errors, reads, writes and read timing, summed over threads
};

using RunFn = RunTotals (*)(int threads, std::chrono::nanoseconds duration);

namespace runner_internal {

constexpr std::int64_t kThreadKeyStride = std::int64_t{1} << 40;
constexpr int kStepsPerStopCheck = 16;  // loop bodies between two looks at the stop flag

inline void do_not_optimize(Value v) { asm volatile("" : : "r"(v) : "memory"); }

template <class A, class W>
void worker(A& m, int index, const std::atomic<bool>& go, const std::atomic<bool>& stop,
            std::atomic<int>& ready, ThreadState& out, std::uint64_t& ops_out) {
  ScopedCounterSlot counter_slot;
  typename W::State state;
  std::int64_t i = index * kThreadKeyStride;
  std::uint64_t ops = 0;
  // release: tells the coordinator this thread holds its counter slot; pairs
  // with the acquire spin in run_one().
  ready.fetch_add(1, std::memory_order_release);
  // acquire: pairs with the release store of `go`; nothing else is published.
  while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
  do {
    for (int k = 0; k < kStepsPerStopCheck; ++k) {
      const int n = W::step(m, i, state);
      i += n;
      ops += static_cast<std::uint64_t>(n);
    }
    // relaxed: the flag only ends the loop; results are published by join().
  } while (!stop.load(std::memory_order_relaxed));
  do_not_optimize(state.sink);
  out = state;
  ops_out = ops;
}

}  // namespace runner_internal

template <Adapter A, class W>
RunTotals run_one(int threads, std::chrono::nanoseconds duration) {
  using runner_internal::worker;
  auto map = std::make_unique<A>();
  W::setup(*map);
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::atomic<int> ready{0};
  std::vector<ThreadState> states(threads);
  std::vector<std::uint64_t> ops(threads, 0);
  std::vector<std::thread> pool;
  pool.reserve(threads);
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back(worker<A, W>, std::ref(*map), t, std::cref(go), std::cref(stop),
                      std::ref(ready), std::ref(states[t]), std::ref(ops[t]));
  }
  // acquire: pairs with each worker's release increment (slot claimed).
  while (ready.load(std::memory_order_acquire) < threads) std::this_thread::yield();
  const std::uint64_t allocs_before = allocations_so_far();
  const auto t0 = std::chrono::steady_clock::now();
  // release: starts the workers after setup; pairs with their acquire spin.
  go.store(true, std::memory_order_release);
  std::this_thread::sleep_for(duration);
  // relaxed: see worker(); join() below is the synchronization.
  stop.store(true, std::memory_order_relaxed);
  for (auto& th : pool) th.join();
  const auto t1 = std::chrono::steady_clock::now();
  RunTotals totals;
  totals.allocations = allocations_so_far() - allocs_before;
  totals.wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
  for (int t = 0; t < threads; ++t) {
    totals.ops += ops[t];
    totals.sum.errors += states[t].errors;
    totals.sum.reads += states[t].reads;
    totals.sum.writes += states[t].writes;
    totals.sum.timed_reads += states[t].timed_reads;
    totals.sum.timed_read_ns += states[t].timed_read_ns;
  }
  return totals;
}

// One C++ system: its name, operation bits, and a runner per workload
// (nullptr where the system lacks an operation the workload needs).
struct CppSystem {
  const char* name;
  unsigned ops;
  std::vector<RunFn> runners;  // indexed like AllWorkloads
};

template <Adapter A, std::size_t... I>
CppSystem make_system_impl(std::index_sequence<I...>) {
  auto pick = []<class W>(W*) -> RunFn {
    if constexpr ((W::kNeeds & ~A::kOps) == 0) {
      return &run_one<A, W>;
    } else {
      return nullptr;
    }
  };
  return CppSystem{A::kName, A::kOps,
                   {pick(static_cast<std::tuple_element_t<I, AllWorkloads>*>(nullptr))...}};
}

template <Adapter A>
CppSystem make_system() {
  return make_system_impl<A>(std::make_index_sequence<kNumWorkloads>{});
}

// Workload names in AllWorkloads order, and the operations each needs.
struct WorkloadInfo {
  const char* name;
  unsigned needs;
};
template <std::size_t... I>
std::vector<WorkloadInfo> workload_infos_impl(std::index_sequence<I...>) {
  return {WorkloadInfo{std::tuple_element_t<I, AllWorkloads>::kName,
                       std::tuple_element_t<I, AllWorkloads>::kNeeds}...};
}
inline std::vector<WorkloadInfo> workload_infos() {
  return workload_infos_impl(std::make_index_sequence<kNumWorkloads>{});
}

// Systems, defined in systems_*.cc (one translation unit per library).
std::vector<CppSystem> peer_systems();      // tbb x2, libcuckoo
std::vector<CppSystem> syncscope_systems(); // the four maps, when built with them

}  // namespace syncscope::mapbench
