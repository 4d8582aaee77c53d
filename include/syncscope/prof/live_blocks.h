// Exact-mode view of the heap: every live block (address, size, allocation
// site) tracked by the allocation hooks when exact mode is on. The retention
// scanner iterates it while the world is stopped, so the iteration and lookup
// functions never allocate and never take a lock that an allocating thread
// could hold while paused (see LiveBlockTable::freeze()).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "syncscope/prof/stack_trace.h"

namespace syncscope::prof {

using SiteId = std::uint32_t;
inline constexpr SiteId kUnknownSite = 0;

struct LiveBlock {
  std::uintptr_t address = 0;
  std::size_t size = 0;  // requested size
  SiteId site = kUnknownSite;
};

// The allocation site behind a SiteId: the stack captured at allocation.
struct AllocationSite {
  SiteId id = kUnknownSite;
  std::vector<std::uintptr_t> pcs;  // innermost first
};

// Process-wide table of live blocks (exact mode).
class LiveBlockTable {
 public:
  static LiveBlockTable& instance();

  // Exact mode has one switch, HeapProfiler::set_exact_mode (and
  // HeapProfiler::exact_mode to read it): blocks allocated while it is off
  // are not in this table.

  // Blocks every mutation of the table (allocating threads wait in the hook)
  // until thaw(); after freeze() returns true, iteration and lookup see a
  // stable table. Call before stopping the world so no paused thread holds
  // the lock. freeze() waits for hooks already recording to finish (a few
  // lock operations: stacks are captured before, so no hook waits on the
  // dynamic loader's lock while it holds the freeze up), then builds the
  // address-sorted snapshot in mmap'ed memory. The wait is bounded by
  // `timeout`: when a hook stays inside longer (a stopped or starved
  // thread), or when the snapshot's memory cannot be mapped, freeze() thaws
  // again and returns false with an empty snapshot.
  // The calling thread is exempt: it may allocate while frozen (those blocks
  // are not recorded) but must not free tracked blocks before thaw() (the
  // free could not be recorded). Only one thread may hold the table frozen
  // at a time. A fork() child of another thread than the freezer starts
  // thawed (the freezer does not exist there); a fork() child of the freezer
  // stays frozen until it calls thaw() itself.
  static constexpr std::chrono::milliseconds kDefaultFreezeTimeout{2000};
  bool freeze(std::chrono::milliseconds timeout = kDefaultFreezeTimeout) noexcept;
  // Idempotent: also valid after freeze() returned false.
  void thaw() noexcept;

  // Dropped-insert count: blocks that exact mode could not record (every
  // table slot full and no memory to grow). Non-zero means the table
  // misses live blocks: report the snapshot as incomplete.
  std::uint64_t dropped_blocks() const noexcept;

  // Requires freeze(). Never allocates.
  std::size_t block_count() const noexcept;
  // Requires freeze(). Calls f(const LiveBlock&) for every live block in
  // ascending address order. Never allocates.
  template <class F>
  void for_each(F&& f) const;
  // Requires freeze(). The block whose [address, address+size) contains
  // `addr`, or nullptr. O(log n). Never allocates.
  const LiveBlock* find_containing(std::uintptr_t addr) const noexcept;
  // Requires freeze(). Blocks sorted by address (stable until thaw()).
  std::span<const LiveBlock> sorted_blocks() const noexcept;

  // The stack of a site id (callable any time, also while frozen: site
  // stacks are immutable and read without a lock; allocates the result).
  AllocationSite site(SiteId id) const;

 private:
  LiveBlockTable() = default;
};

// The sampled live blocks (the heap profiler's samples still allocated):
// address, requested size and allocation site, sorted by address. Any time,
// from any thread; allocates the result, so not while the world is stopped.
// The heap walk names its blocks from these.
std::vector<LiveBlock> sampled_live_blocks();

template <class F>
void LiveBlockTable::for_each(F&& f) const {
  for (const LiveBlock& b : sorted_blocks()) f(b);
}

}  // namespace syncscope::prof
