// What the standard library's headers still call from the LD_PRELOAD core
// object, which links no C++ runtime (issue 16, item 1). The containers'
// inline code reports its failures through these out-of-line functions,
// which libstdc++ defines by throwing; the core is built without
// exceptions. They stay local to the object (preload/preload.map exports
// none of them), so a C++ program's own calls still reach its libstdc++.
// The link fails on any other one the core comes to need (-z defs).
#include <bits/functexcept.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "prof/oom_recovery.h"

namespace {

// A programming error of the profiler (a length or index out of range): the
// library would throw, and nothing of ours catches it. One line on stderr,
// then abort, as an uncaught exception would end the process.
[[noreturn]] void internal_error(const char* function, const char* what) noexcept {
  const char* parts[] = {"syncscope: internal error in the heap profiler: ", function, ": ",
                         what != nullptr ? what : "", "\n"};
  for (const char* p : parts) {
    [[maybe_unused]] ssize_t n = write(STDERR_FILENO, p, std::strlen(p));
  }
  std::abort();
}

}  // namespace

namespace std {

// std::allocator asked for more than max_size() elements: out of memory in
// the profiler's own work, handled as a failed operator new
// (oom_recovery.h: back to the recovery point, or the program's bad_alloc).
void __throw_bad_alloc() { syncscope::prof::internal::fail_out_of_memory(); }

// Container length checks (vector/string growth past max_size()).
void __throw_length_error(const char* what) { internal_error("length_error", what); }

// basic_string built from a null pointer.
void __throw_logic_error(const char* what) { internal_error("logic_error", what); }

// Checked element access (at(), substr() past the end).
void __throw_out_of_range_fmt(const char* format, ...) { internal_error("out_of_range", format); }

}  // namespace std
