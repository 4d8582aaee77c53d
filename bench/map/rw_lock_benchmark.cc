// The lock-based maps' reader-writer lock alone (issue 19): FutexRwLock
// against std::shared_mutex (glibc's pthread_rwlock, the lock LockedMap
// used before) and RwSpinLock (FlatGroupMap's group lock), on one lock
// shared by every thread, with a critical section of one counter update
// (about what a map operation's table access costs, minus its misses).
//   Exclusive   lock(); ++counter; unlock()
//   Shared      lock_shared(); read counter; unlock_shared()
//   Mixed       one exclusive acquisition per 16, the rest shared
//   build/bin/rw_lock_benchmark --benchmark_repetitions=5 --benchmark_report_aggregates_only
// Compare CPU time per iteration; with more threads than free cores the
// wall time measures the scheduler.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <shared_mutex>

#include "syncscope/map/internal/futex_rw_lock.h"
#include "syncscope/map/internal/rw_spin_lock.h"

namespace {

using syncscope::map::internal::FutexRwLock;
using syncscope::map::internal::RwSpinLock;

// One lock and the data it guards per lock type, shared by the threads.
template <class Lock>
struct alignas(64) Guarded {
  Lock lock;
  std::int64_t counter = 0;
};

template <class Lock>
Guarded<Lock>& shared_guarded() {
  static Guarded<Lock> g;
  return g;
}

template <class Lock>
void BM_Exclusive(benchmark::State& state) {
  Guarded<Lock>& g = shared_guarded<Lock>();
  for (auto _ : state) {
    g.lock.lock();
    ++g.counter;
    g.lock.unlock();
  }
  state.SetItemsProcessed(state.iterations());
}

template <class Lock>
void BM_Shared(benchmark::State& state) {
  Guarded<Lock>& g = shared_guarded<Lock>();
  std::int64_t sum = 0;
  for (auto _ : state) {
    g.lock.lock_shared();
    sum += g.counter;
    g.lock.unlock_shared();
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}

template <class Lock>
void BM_Mixed(benchmark::State& state) {
  Guarded<Lock>& g = shared_guarded<Lock>();
  std::int64_t sum = 0;
  std::uint32_t i = 0;
  for (auto _ : state) {
    if ((++i & 15) == 0) {
      g.lock.lock();
      ++g.counter;
      g.lock.unlock();
    } else {
      g.lock.lock_shared();
      sum += g.counter;
      g.lock.unlock_shared();
    }
  }
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}

#define SYNCSCOPE_LOCK_BENCH(fn, lock) \
  BENCHMARK(fn<lock>)->Name(#fn "/" #lock)->Threads(1)->Threads(2)->UseRealTime()
SYNCSCOPE_LOCK_BENCH(BM_Exclusive, FutexRwLock);
SYNCSCOPE_LOCK_BENCH(BM_Exclusive, std::shared_mutex);
SYNCSCOPE_LOCK_BENCH(BM_Exclusive, RwSpinLock);
SYNCSCOPE_LOCK_BENCH(BM_Shared, FutexRwLock);
SYNCSCOPE_LOCK_BENCH(BM_Shared, std::shared_mutex);
SYNCSCOPE_LOCK_BENCH(BM_Shared, RwSpinLock);
SYNCSCOPE_LOCK_BENCH(BM_Mixed, FutexRwLock);
SYNCSCOPE_LOCK_BENCH(BM_Mixed, std::shared_mutex);
SYNCSCOPE_LOCK_BENCH(BM_Mixed, RwSpinLock);
#undef SYNCSCOPE_LOCK_BENCH

}  // namespace

BENCHMARK_MAIN();
