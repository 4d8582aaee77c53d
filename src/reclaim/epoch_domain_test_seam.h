// Test seams of the epoch domain: internal, for tests only. Each replaces a
// system call the domain makes, so that tests can make it fail on purpose.
#pragma once

namespace syncscope::reclaim::internal {

// The membarrier(2) call the epoch advance issues (cmd as for the system
// call; returns 0 or -1 like it). nullptr restores the real system call.
using MembarrierFn = long (*)(int cmd) noexcept;
void set_membarrier_for_testing(MembarrierFn fn) noexcept;

}  // namespace syncscope::reclaim::internal
