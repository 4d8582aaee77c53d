// The hooks' side of fault injection (syncscope/prof/fault_injection.h):
// one acquire load per allocation while nothing is armed, and the per-thread
// count of failed allocations that the symbolizer reads to tell "no symbol"
// from "ran out of memory while looking".
#pragma once

#include <atomic>
#include <cstddef>

#include "prof/thread_state.h"
#include "syncscope/prof/fault_injection.h"

namespace syncscope::prof::internal {

// True while a plan is armed. release-stored by arm() after the plan's
// fields; acquire-loaded here ([FI-arm]), so a hook that sees true reads the
// whole plan.
extern std::atomic<bool> g_fault_armed;

bool should_inject_slow(fault_injection::Target target, std::size_t size) noexcept;

// Whether this request must fail (and counts it against the armed plan).
inline bool should_inject(fault_injection::Target target, std::size_t size) noexcept {
  // acquire: [FI-arm], pairs with the release in arm().
  if (__builtin_expect(!g_fault_armed.load(std::memory_order_acquire), 1)) return false;
  return should_inject_slow(target, size);
}

// Called by an interposer whose allocation failed (for real or injected).
inline void note_failed_allocation() noexcept { ++tls_state.failed_allocations; }

}  // namespace syncscope::prof::internal
