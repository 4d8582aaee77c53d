// Captures the calling thread's stack for the task part (spawn stacks, the
// dumping thread's own stack).
//
// Hazard (TSan only): prof::capture_stack uses libunwind's unw_backtrace,
// whose per-thread trace cache is freed by a pthread-key destructor that
// runs after ThreadSanitizer has torn the exiting thread's state down; the
// destructor's mutex lock then crashes inside TSan (seen on detached task
// threads). Under TSan we therefore unwind from a getcontext() snapshot with
// prof::capture_stack_from_context, which uses no per-thread cache.
#pragma once

#include <cstdint>

#include "syncscope/prof/stack_trace.h"

namespace syncscope::task::internal {

// Like prof::capture_stack(pcs, max, skip): pcs[0] is a return address in
// the caller of capture_here when skip == 0.
int capture_here(std::uintptr_t* pcs, int max_frames, int skip) noexcept;

// The stack of the function this is inlined into: pcs[0] is a return
// address inside that function. Inlined so that the unwinder starts one
// frame from the caller (prof::capture_stack drops its own frame): every
// frame between the capture and the caller costs an unwind step (about 85
// instructions with libunwind's cached trace).
[[gnu::always_inline]] inline int capture_spawn_stack(std::uintptr_t* pcs, int max_frames) noexcept {
#if defined(SYNCSCOPE_TSAN)
  return capture_here(pcs, max_frames, 0);  // drops its own frame; see the hazard above
#else
  return prof::capture_stack(pcs, max_frames, 0);
#endif
}

}  // namespace syncscope::task::internal
