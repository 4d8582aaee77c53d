// Stack capture from a signal handler's register state, on libunwind's
// local-only unwinder (libgcc's unwinder, which the LD_PRELOAD core's
// capture_stack uses, can only start at the frame that calls it).
// Async-signal-safe and allocation-free: libunwind in UNW_LOCAL_ONLY mode
// keeps its caches in mmap'ed memory. Not part of the LD_PRELOAD core (the
// allocation hooks never need it). libunwind's cache policy for these walks
// is set in stack_trace.cc.
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <ucontext.h>

#include <algorithm>
#include <cstring>

#include "prof/unwind_frames.h"
#include "prof/unwind_gate.h"
#include "syncscope/prof/stack_trace.h"

namespace syncscope::prof {

int capture_stack_from_context(const ucontext_t* context, std::uintptr_t* pcs, int max_frames) noexcept {
  if (context == nullptr || pcs == nullptr || max_frames <= 0) return 0;
  const internal::UnwindGateScope gate;  // no walk while a fork is under way
  if (!gate.open()) return 0;
  // unw_context_t is ucontext_t on x86_64/aarch64 Linux; copy it so libunwind
  // may write to its own view without touching the handler's argument.
  unw_context_t uc;
  static_assert(sizeof(unw_context_t) >= sizeof(ucontext_t), "libunwind context must hold a ucontext_t");
  std::memcpy(&uc, context, sizeof(ucontext_t));
  unw_cursor_t cursor;
  if (unw_init_local2(&cursor, &uc, UNW_INIT_SIGNAL_FRAME) != 0) return 0;
  return internal::collect_frames(&cursor, pcs, nullptr, std::min(max_frames, kMaxStackDepth));
}

}  // namespace syncscope::prof
