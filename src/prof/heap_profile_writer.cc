// HeapProfiler: the symbolized pprof profile and its file writer. Kept apart
// from heap_profiler.cc (configuration, counters, snapshots and the
// address-only profile) because this side needs the profile builder and the
// symbolizer (protobuf, libdw), which the LD_PRELOAD object loads only when
// it serves a profile or is asked to symbolize (SYNCSCOPE_PROFILE_SYMBOLIZE).
#include <exception>

#include "prof/thread_state.h"
#include "absl/strings/str_cat.h"
#include "syncscope/prof/atomic_file.h"
#include "syncscope/prof/heap_profiler.h"

namespace syncscope::prof {

using internal::HookGuard;

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
