// HeapProfiler: configuration, counters, snapshots and the address-only
// profile; all of it in the LD_PRELOAD core object (the symbolized profile:
// heap_profile_writer.cc).
#include "syncscope/prof/heap_profiler.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#if defined(__cpp_exceptions)
#include <stdexcept>
#endif

#include "prof/address_profile.h"
#include "prof/loaded_modules.h"
#include "prof/oom_recovery.h"
#include "prof/profile_file.h"

#include "prof/heap_recorder.h"
#include "prof/live_block_store.h"
#include "prof/sampled_heap.h"
#include "prof/sampling_math.h"
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
    const std::uint64_t allocated = slots[i].alloc_objects.load(std::memory_order_relaxed);
    const std::uint64_t freed = slots[i].free_objects.load(std::memory_order_relaxed);
    c.allocated_bytes +=
        internal::usable_bytes_counted(slots[i].alloc_bytes.load(std::memory_order_relaxed), allocated);
    c.allocated_objects += allocated;
    c.freed_bytes += internal::usable_bytes_counted(slots[i].free_bytes.load(std::memory_order_relaxed), freed);
    c.freed_objects += freed;
  }
  c.live_bytes = c.allocated_bytes >= c.freed_bytes ? c.allocated_bytes - c.freed_bytes : 0;
  c.live_objects =
      c.allocated_objects >= c.freed_objects ? c.allocated_objects - c.freed_objects : 0;
  c.samples = internal::samples_taken();
  c.samples_dropped = internal::samples_dropped();
  return c;
}

namespace {

// snapshot()'s work: the sampled heap's estimates by stack into `snap`.
void fill_snapshot(HeapSnapshot& snap) {
  snap.sample_rate = internal::sample_rate();
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);  // the wall clock, as pprof's time_nanos
  snap.time_nanos = std::int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
  internal::StackTable& stacks = internal::StackTable::instance();
  const std::uint32_t n = stacks.size();
  std::vector<internal::SiteEstimate> est(n + 1);  // allocated before taking the lock
  internal::SampledHeap::instance().copy_estimates(est.data(), n);
  for (std::uint32_t id = 0; id <= n; ++id) {
    const internal::SiteEstimate& e = est[id];
    if (e.alloc_objects <= 0) continue;
    HeapSample s;
    s.site = id;
    if (const internal::StackRecord* r = stacks.get(id)) {
      s.pcs.assign(r->pcs, r->pcs + r->depth);
      s.task_label = r->task_label;
    }
    s.alloc_objects = internal::round_to_int64(e.alloc_objects);
    s.alloc_bytes = internal::round_to_int64(e.alloc_bytes);
    s.inuse_objects = std::max<std::int64_t>(0, internal::round_to_int64(e.alloc_objects - e.free_objects));
    s.inuse_bytes = std::max<std::int64_t>(0, internal::round_to_int64(e.alloc_bytes - e.free_bytes));
    snap.samples.push_back(std::move(s));
  }
}

}  // namespace

// snapshot() and address_profile_bytes() are also called by the profile
// writer of the LD_PRELOAD extension objects, which are built with
// exceptions: out of memory inside them leaves through fail_out_of_memory
// from the frame below, where nothing but an empty result is live (in the
// preload build an exception passes core frames without running their
// destructors, HookGuards included; oom_recovery.h), never from deeper.
HeapSnapshot HeapProfiler::snapshot() {
  HeapSnapshot snap;
  bool ok = false;
  {
    internal::HookGuard guard;  // our own allocations are not profiled
    ok = internal::run_recoverable([&] { fill_snapshot(snap); });
  }
  if (!ok) {
    snap = HeapSnapshot();  // frees what was built: every container is whole
    internal::fail_out_of_memory();
  }
  return snap;
}

namespace {

// The address profile into `*bytes`; false when out of memory. `*bytes`
// stays empty when zlib could not be loaded or failed (`*error` says why).
bool build_address_profile(std::string* bytes, std::string* error) {
  internal::HookGuard guard;
  return internal::run_recoverable([&] {
    const HeapSnapshot snap = HeapProfiler::snapshot();
    *bytes = internal::address_profile_bytes(snap, internal::loaded_modules(), error);
  });
}

}  // namespace

std::string HeapProfiler::address_profile_bytes() {
  std::string bytes;
#if defined(__cpp_exceptions)
  std::string error;
  if (!build_address_profile(&bytes, &error)) internal::fail_out_of_memory();
  if (bytes.empty()) throw std::runtime_error(error);  // zlib could not be loaded or failed
#else
  if (!build_address_profile(&bytes, nullptr)) internal::fail_out_of_memory();
#endif
  return bytes;
}

namespace internal {

bool write_address_profile_file(const std::string& path, std::string* error) {
  internal::HookGuard guard;
  bool written = false;
  const bool enough_memory = run_recoverable([&] {
    const HeapSnapshot snap = HeapProfiler::snapshot();
    std::string why;
    const std::string bytes = address_profile_bytes(snap, loaded_modules(), &why);
    if (bytes.empty()) {
      if (error != nullptr) *error = "cannot write heap profile to " + path + ": " + why;
      return;
    }
    written = write_profile_file(path, bytes, error);
  });
  // Out of memory while building: the samples stay, the program goes on.
  // (A literal that fits std::string's inline buffer: no allocation.)
  if (!enough_memory && error != nullptr) *error = "out of memory";
  return written;
}

}  // namespace internal

}  // namespace syncscope::prof
