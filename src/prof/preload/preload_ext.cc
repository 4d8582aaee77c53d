// libsyncscope_preload_ext.so: the heavy half of the LD_PRELOAD object,
// loaded by libsyncscope_preload.so (dlopen, from its own directory) only
// when it writes a profile or SYNCSCOPE_HTTP asks for the debug server, so a
// process that does neither never maps protobuf, libdw or the server
// (issue 16, item 1). The profiler's state (hooks, sampled heap, stack table)
// lives in the first object; this one resolves against it.
#include <cstddef>
#include <cstring>
#include <exception>
#include <string>

#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/symbolizer.h"

namespace {

// `text` into the caller's buffer, cut to fit; allocates nothing.
void copy_error(const char* text, char* error, std::size_t error_cap) noexcept {
  if (error == nullptr || error_cap == 0) return;
  std::strncpy(error, text, error_cap - 1);
  error[error_cap - 1] = '\0';
}

}  // namespace

// Out of memory anywhere in here, the core's functions it calls included
// (they report it as std::bad_alloc from their outermost frame), is caught
// here: the profile is not written, the program goes on.
extern "C" __attribute__((visibility("default"))) int syncscope_preload_ext_write_profile(
    const char* path, int separate_debuginfo, char* error, std::size_t error_cap) noexcept {
  try {
    // Read by the symbolizer once, when it is created: set before the first profile.
    static const bool configured = [&] {
      syncscope::prof::Symbolizer::set_separate_debuginfo(separate_debuginfo != 0);
      return true;
    }();
    (void)configured;
    const absl::Status written = syncscope::prof::HeapProfiler::write_heap_profile(path);
    if (written.ok()) return 0;
    copy_error(std::string(written.message()).c_str(), error, error_cap);
  } catch (const std::exception& e) {  // out of memory: the host program goes on
    copy_error(e.what(), error, error_cap);
  }
  return -1;
}
