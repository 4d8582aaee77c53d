// Counts every call of the global operator new made by this process, so the
// driver can report allocations per operation for every C++ system (Go's
// figure comes from -benchmem).
//
// The replacement operator new/delete live in alloc_counter.cc, which only the
// syncscope-mapbench executable links (a library must not replace them).
// Counting is per thread: a benchmark worker claims its own cache-line-sized
// counter slot (ScopedCounterSlot) and bumps it without a read-modify-write;
// every other thread counts into one shared slot with an atomic add. The total
// is the sum of all slots, read before and after a timed region.
//
// Only operator new is counted: the peers' allocators are pinned to
// std::allocator (see peer_adapters.h), so every system allocates through it.
#pragma once

#include <cstdint>

namespace syncscope::mapbench {

// Sum of all counters: allocations made by operator new since start.
std::uint64_t allocations_so_far();

// While alive, the current thread counts into a private slot. Claim it before
// the timed region (it takes a mutex); release it after.
class ScopedCounterSlot {
 public:
  ScopedCounterSlot();
  ~ScopedCounterSlot();
  ScopedCounterSlot(const ScopedCounterSlot&) = delete;
  ScopedCounterSlot& operator=(const ScopedCounterSlot&) = delete;

 private:
  int slot_;  // index into the slot table, or -1 when none was free
};

}  // namespace syncscope::mapbench
