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

namespace syncscope::task::internal {

// Like prof::capture_stack(pcs, max, skip): pcs[0] is a return address in
// the caller of capture_here when skip == 0.
int capture_here(std::uintptr_t* pcs, int max_frames, int skip) noexcept;

}  // namespace syncscope::task::internal
