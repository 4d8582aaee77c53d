// Captures the spawn stack for the task part: called inlined in each spawn
// function, so that the capture's key (the spawn function's own return
// address and frame) describes the spawn function.
//
// TSan: prof::capture_stack unwinds from a getcontext() snapshot there
// (libunwind's per-thread trace cache crashes inside TSan at thread exit;
// see stack_trace.cc), and the cache's own walk uses a libunwind cursor,
// which keeps no per-thread cache either.
#pragma once

#include <cstdint>

#include "syncscope/prof/stack_trace.h"
#include "task/spawn_stack_cache.h"

namespace syncscope::task::internal {

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
