// HeapProfiler: snapshots of the sampled heap and the pprof file writer.
// Kept apart from heap_profiler.cc (configuration and counters) because this
// side needs the profile builder and the symbolizer (protobuf, libdw), which
// the LD_PRELOAD object loads only when it writes or serves a profile.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>

#include "prof/sampled_heap.h"
#include "prof/stack_table.h"
#include "prof/heap_recorder.h"
#include "prof/thread_state.h"
#include "absl/strings/str_cat.h"
#include "syncscope/prof/atomic_file.h"
#include "syncscope/prof/heap_profiler.h"

namespace syncscope::prof {

using internal::HookGuard;

HeapSnapshot HeapProfiler::snapshot() {
  HookGuard guard;  // our own allocations are not profiled
  HeapSnapshot snap;
  snap.sample_rate = internal::sample_rate();
  snap.time_nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
  internal::StackTable& stacks = internal::StackTable::instance();
  const std::uint32_t n = stacks.size();
  std::vector<internal::SiteEstimate> est(n + 1);  // allocated before taking the lock
  internal::SampledHeap::instance().copy_estimates(est.data(), n);
  for (std::uint32_t id = 0; id <= n; ++id) {
    const internal::SiteEstimate& e = est[id];
    if (e.alloc_objects <= 0) continue;
    HeapSample s;
    s.site = id;
    if (const internal::StackRecord* r = stacks.get(id)) s.pcs.assign(r->pcs, r->pcs + r->depth);
    s.alloc_objects = std::llround(e.alloc_objects);
    s.alloc_bytes = std::llround(e.alloc_bytes);
    s.inuse_objects = std::max<std::int64_t>(0, std::llround(e.alloc_objects - e.free_objects));
    s.inuse_bytes = std::max<std::int64_t>(0, std::llround(e.alloc_bytes - e.free_bytes));
    snap.samples.push_back(std::move(s));
  }
  return snap;
}

std::string HeapProfiler::heap_profile_bytes() {
  HookGuard guard;
  return snapshot().to_pprof();
}

absl::Status HeapProfiler::write_heap_profile(const std::string& path) {
  HookGuard guard;
  try {
    // Owner-only: profiles name the program's code and addresses.
    return write_file_atomically(path, heap_profile_bytes(), 0600);
  } catch (const std::exception& e) {  // out of memory while building: the samples stay
    return absl::ResourceExhaustedError(absl::StrCat("cannot write heap profile to ", path, ": ", e.what()));
  }
}

}  // namespace syncscope::prof
