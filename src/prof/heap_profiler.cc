// HeapProfiler: configuration and counters (snapshots and the file writer:
// heap_profile_writer.cc).
#include "syncscope/prof/heap_profiler.h"

#include <atomic>

#include "prof/heap_recorder.h"
#include "prof/live_block_store.h"
#include "prof/sampled_heap.h"
#include "prof/stack_table.h"
#include "prof/thread_state.h"

namespace syncscope::prof {

bool HeapProfiler::hooks_installed() noexcept { return internal::hooks_linked(); }

void HeapProfiler::start() noexcept {
  internal::install_fork_handlers();
  internal::set_sampling(true, internal::sample_rate());
}

void HeapProfiler::stop() noexcept { internal::set_sampling(false, internal::sample_rate()); }

bool HeapProfiler::running() noexcept { return internal::sampling(); }

void HeapProfiler::set_sample_rate(std::int64_t bytes) noexcept {
  internal::set_sampling(internal::sampling(), bytes);
}

std::int64_t HeapProfiler::sample_rate() noexcept { return internal::sample_rate(); }

void HeapProfiler::set_exact_mode(bool on) noexcept { internal::set_exact_mode(on); }

bool HeapProfiler::exact_mode() noexcept {
  // relaxed: a flag read.
  return internal::LiveBlockStore::instance().enabled.load(std::memory_order_relaxed);
}

HeapCounters HeapProfiler::counters() noexcept {
  HeapCounters c;
  const internal::CounterSlot* slots = internal::counter_slots();
  for (std::size_t i = 0; i < internal::kCounterSlots; ++i) {
    // relaxed: statistics; see the HeapCounters comment about mixed moments.
    c.allocated_bytes += slots[i].alloc_bytes.load(std::memory_order_relaxed);
    c.allocated_objects += slots[i].alloc_objects.load(std::memory_order_relaxed);
    c.freed_bytes += slots[i].free_bytes.load(std::memory_order_relaxed);
    c.freed_objects += slots[i].free_objects.load(std::memory_order_relaxed);
  }
  c.live_bytes = c.allocated_bytes >= c.freed_bytes ? c.allocated_bytes - c.freed_bytes : 0;
  c.live_objects =
      c.allocated_objects >= c.freed_objects ? c.allocated_objects - c.freed_objects : 0;
  c.samples = internal::samples_taken();
  c.samples_dropped = internal::samples_dropped();
  return c;
}

}  // namespace syncscope::prof
