// Stack capture for the allocation hooks, thread dumps and the retention
// scanner. Everything here is async-signal-safe and never allocates, so it may
// run inside a malloc hook or a signal handler.
#pragma once

#include <cstddef>
#include <cstdint>

#include <ucontext.h>

namespace syncscope::prof {

// The deepest stack any part of syncscope records (issue: "at least 64").
inline constexpr int kMaxStackDepth = 64;

// Writes up to `max_frames` return addresses of the calling thread into `pcs`,
// innermost first, skipping the `skip` innermost frames (0 keeps the caller of
// capture_stack). Returns the number written. Async-signal-safe; no
// allocation; safe to call re-entrantly from a malloc hook.
int capture_stack(std::uintptr_t* pcs, int max_frames, int skip) noexcept;

// Same, starting from the register state a signal handler received (the
// interrupted frame is pcs[0]). Async-signal-safe.
int capture_stack_from_context(const ucontext_t* context, std::uintptr_t* pcs,
                               int max_frames) noexcept;

}  // namespace syncscope::prof
