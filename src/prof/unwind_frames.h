// The one frame loop over a libunwind cursor, shared by the local unwinder
// (stack_trace.cc, UNW_LOCAL_ONLY) and the remote one over stack copies
// (captured_stack.cc). Include <libunwind.h> first, with or without
// UNW_LOCAL_ONLY: the loop calls whichever flavour the including file chose,
// so it has internal linkage (one copy per flavour, no ODR clash).
#pragma once

#include <cstdint>

namespace syncscope::prof::internal {
namespace {

// Walks `cursor` outwards from its current frame: pc[i] (and sp[i] when `sp`
// is not null) for at most `max_frames` frames, stopping at a zero or
// unreadable instruction pointer or when unw_step finds no caller. Returns
// the number of frames written. Allocation-free and async-signal-safe as far
// as the cursor's flavour is.
inline int collect_frames(unw_cursor_t* cursor, std::uintptr_t* pc, std::uintptr_t* sp,
                          int max_frames) noexcept {
  int n = 0;
  while (n < max_frames) {
    unw_word_t ip = 0;
    if (unw_get_reg(cursor, UNW_REG_IP, &ip) != 0 || ip == 0) break;
    pc[n] = static_cast<std::uintptr_t>(ip);
    if (sp != nullptr) {
      unw_word_t s = 0;
      unw_get_reg(cursor, UNW_REG_SP, &s);
      sp[n] = static_cast<std::uintptr_t>(s);
    }
    ++n;
    if (unw_step(cursor) <= 0) break;
  }
  return n;
}

}  // namespace
}  // namespace syncscope::prof::internal
