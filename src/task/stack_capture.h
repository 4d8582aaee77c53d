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

#include <ucontext.h>

#include <cstdint>

#include "syncscope/prof/stack_trace.h"

namespace syncscope::task::internal {

// Like prof::capture_stack(pcs, max, skip) with pcs[0] in the caller of
// this function when skip == 0. Always inlined, so that "the caller" is the
// function that wrote the call.
__attribute__((always_inline)) inline int capture_here(std::uintptr_t* pcs, int max_frames, int skip) noexcept {
#if defined(SYNCSCOPE_TSAN)
  ucontext_t context;
  if (getcontext(&context) != 0) return 0;
  // The context's pc is inside the caller itself (the inlined frame), so
  // the first frame is that function; drop `skip` frames after it.
  std::uintptr_t all[prof::kMaxStackDepth];
  const int n = prof::capture_stack_from_context(&context, all, prof::kMaxStackDepth);
  int out = 0;
  for (int i = skip; i < n && out < max_frames; ++i) pcs[out++] = all[i];
  return out;
#else
  return prof::capture_stack(pcs, max_frames, skip);
#endif
}

}  // namespace syncscope::task::internal
