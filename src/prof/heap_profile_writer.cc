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

namespace {

// Writes the profile `bytes()` builds to `path`, owner-only: profiles name
// the program's code and addresses.
template <class Bytes>
absl::Status write_owner_only(const std::string& path, Bytes bytes) {
  HookGuard guard;
  try {
    return write_file_atomically(path, bytes(), 0600);
  } catch (const std::exception& e) {  // out of memory while building: the samples stay
    return absl::ResourceExhaustedError(absl::StrCat("cannot write heap profile to ", path, ": ", e.what()));
  }
}

}  // namespace

absl::Status HeapProfiler::write_heap_profile(const std::string& path) {
  return write_owner_only(path, [] { return heap_profile_bytes(); });
}

absl::Status HeapProfiler::write_address_profile(const std::string& path) {
  return write_owner_only(path, [] { return address_profile_bytes(); });
}

}  // namespace syncscope::prof
