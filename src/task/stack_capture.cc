#include "task/stack_capture.h"

#include <ucontext.h>

#include "syncscope/prof/stack_trace.h"

namespace syncscope::task::internal {

__attribute__((noinline)) int capture_here(std::uintptr_t* pcs, int max_frames, int skip) noexcept {
#if defined(SYNCSCOPE_TSAN)
  ucontext_t context;
  if (getcontext(&context) != 0) return 0;
  // all[0] is inside capture_here itself: drop it and `skip` more.
  std::uintptr_t all[prof::kMaxStackDepth];
  const int n = prof::capture_stack_from_context(&context, all, prof::kMaxStackDepth);
  int out = 0;
  for (int i = skip + 1; i < n && out < max_frames; ++i) pcs[out++] = all[i];
  return out;
#else
  // skip + 1: capture_here's own frame.
  return prof::capture_stack(pcs, max_frames, skip + 1);
#endif
}

}  // namespace syncscope::task::internal
