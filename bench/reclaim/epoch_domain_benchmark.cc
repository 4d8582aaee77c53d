// Justifies the reclamation choice (docs/reclaim.md): reader cost per
// pin/unpin and writer cost per retired object, for our EpochDomain and for
// liburcu's memb flavour (the membarrier-based userspace RCU), in one run.
// Run twice to compare our fence modes:
//   build/bin/reclaim_benchmark
//   SYNCSCOPE_RECLAIM_FENCES=symmetric build/bin/reclaim_benchmark
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>

#include "syncscope/reclaim/epoch_domain.h"

#if defined(SYNCSCOPE_HAVE_URCU)
#include <urcu/urcu-memb.h>
#endif

namespace {

using syncscope::reclaim::EpochDomain;

struct Payload {
  std::uint64_t value = 1;
};

std::atomic<Payload*> g_shared{new Payload};

// Reader: pin, read one shared object, unpin.
void BM_EpochDomain_PinReadUnpin(benchmark::State& state) {
  EpochDomain& d = EpochDomain::global();
  std::uint64_t sum = 0;
  for (auto _ : state) {
    auto guard = d.pin();
    sum += g_shared.load(std::memory_order_acquire)->value;
  }
  benchmark::DoNotOptimize(sum);
  state.SetLabel(d.uses_asymmetric_fences() ? "asymmetric (membarrier)" : "symmetric (seq_cst fence)");
}
BENCHMARK(BM_EpochDomain_PinReadUnpin)->Threads(1)->Threads(2)->UseRealTime();

// Writer: allocate, retire (freed later by the domain).
void BM_EpochDomain_Retire(benchmark::State& state) {
  EpochDomain& d = EpochDomain::global();
  for (auto _ : state) d.retire(new Payload, nullptr);
  d.drain();
}
BENCHMARK(BM_EpochDomain_Retire)->Threads(1)->Threads(2)->UseRealTime();

#if defined(SYNCSCOPE_HAVE_URCU)
struct UrcuPayload {
  rcu_head head;
  std::uint64_t value = 1;
};

void BM_Urcu_ReadLockReadUnlock(benchmark::State& state) {
  urcu_memb_register_thread();
  std::uint64_t sum = 0;
  for (auto _ : state) {
    urcu_memb_read_lock();
    sum += g_shared.load(std::memory_order_acquire)->value;
    urcu_memb_read_unlock();
  }
  benchmark::DoNotOptimize(sum);
  urcu_memb_unregister_thread();
}
BENCHMARK(BM_Urcu_ReadLockReadUnlock)->Threads(1)->Threads(2)->UseRealTime();

void BM_Urcu_CallRcu(benchmark::State& state) {
  urcu_memb_register_thread();
  for (auto _ : state) {
    auto* p = new UrcuPayload;
    urcu_memb_call_rcu(&p->head, [](rcu_head* h) {
      delete reinterpret_cast<UrcuPayload*>(reinterpret_cast<char*>(h) - offsetof(UrcuPayload, head));
    });
  }
  urcu_memb_barrier();
  urcu_memb_unregister_thread();
}
BENCHMARK(BM_Urcu_CallRcu)->Threads(1)->Threads(2)->UseRealTime();
#endif

}  // namespace

BENCHMARK_MAIN();
