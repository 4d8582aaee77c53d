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
#include "task/spawn_stack_cache.h"

namespace syncscope::task::internal {

// Like prof::capture_stack(pcs, max, skip): pcs[0] is a return address in
// the caller of capture_here when skip == 0.
int capture_here(std::uintptr_t* pcs, int max_frames, int skip) noexcept;

// The stack of the function this is inlined into (a spawn function): pcs[0]
// is a return address inside that function, then its callers. Reused from
// the calling thread's cache when the same call site's stack is still live
// (spawn_stack_cache.h); the key is the spawn function's own return address
// and frame, hence inlined.
[[gnu::always_inline]] inline int capture_spawn_stack(std::uintptr_t* pcs, int max_frames) noexcept {
  return capture_spawn_stack_at(reinterpret_cast<std::uintptr_t>(__builtin_return_address(0)),
                                reinterpret_cast<std::uintptr_t>(__builtin_dwarf_cfa()), pcs, max_frames);
}

}  // namespace syncscope::task::internal
