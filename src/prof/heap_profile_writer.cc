// HeapProfiler: the symbolized pprof profile and its file writer. Kept apart
// from heap_profiler.cc (configuration, counters, snapshots and the
// address-only profile) because this side needs the profile builder and the
// symbolizer (protobuf, libdw), which the LD_PRELOAD object loads only when
// it serves a profile or is asked to symbolize (SYNCSCOPE_PROFILE_SYMBOLIZE).
#include <exception>

#include "prof/profile_file.h"
#include "prof/thread_state.h"
#include "syncscope/prof/heap_profiler.h"

namespace syncscope::prof {

using internal::HookGuard;

std::string HeapProfiler::heap_profile_bytes() {
  HookGuard guard;
  return snapshot().to_pprof();
}

bool HeapProfiler::write_heap_profile(const std::string& path, std::string* error) {
  HookGuard guard;
  std::string bytes;
  try {
    bytes = heap_profile_bytes();
  } catch (const std::exception& e) {  // out of memory while building: the samples stay
    if (error != nullptr) *error = "cannot write heap profile to " + path + ": " + e.what();
    return false;
  }
  return internal::write_profile_file(path, bytes, error);
}

}  // namespace syncscope::prof
