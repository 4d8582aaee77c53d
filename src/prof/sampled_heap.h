// The sampled heap: every sampled allocation that is still live, and per
// allocation stack the unbiased estimates that the heap profile reports.
//
// Implementation notes
//   A sampled block of `size` bytes was picked with probability
//   p = 1 - exp(-size/rate) (Poisson sampling, as Go and tcmalloc do), so it
//   stands for 1/p allocations and size/p bytes. Those weights are added to
//   the stack's alloc_* estimates when sampled and to its free_* estimates
//   when the block is freed, so inuse = alloc - free is unbiased too.
//
//   Blocks live in an mmap'ed open-addressing table (linear probing,
//   backward-shift deletion) under lock_. free() of an unsampled block must
//   not take the lock, so a counting filter (filter_, one 16-bit counter per
//   address hash) is consulted first without it: a zero means "not sampled".
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "prof/spin_lock.h"

namespace syncscope::prof::internal {

struct SiteEstimate {
  double alloc_objects;
  double alloc_bytes;
  double free_objects;
  double free_bytes;
};

class SampledHeap {
 public:
  constexpr SampledHeap() = default;
  static SampledHeap& instance() noexcept;

  // Records a sampled allocation (stack id from StackTable, requested size,
  // weight 1/p). Returns false when the table is full or unmapped.
  bool record_alloc(std::uintptr_t addr, std::size_t size, std::uint32_t stack,
                    double weight) noexcept;

  // Cheap, lock-free pre-check for free(): false means addr is surely not a
  // sampled live block.
  bool maybe_sampled(std::uintptr_t addr) const noexcept {
    // acquire: filter_ is valid once mapped_ is true (pairs with the release
    // in ensure_mapped_locked()).
    if (!mapped_.load(std::memory_order_acquire)) return false;
    // relaxed: see the invariant at filter_.
    return filter_[filter_of(addr)].load(std::memory_order_relaxed) != 0;
  }

  // Removes addr if it is a sampled live block and books it as freed.
  void record_free(std::uintptr_t addr) noexcept;

  // Copies the estimates of stacks 1..max_stack into out[1..] (out[0] unused).
  // Never allocates; takes lock_. Returns the number of sampled live blocks.
  std::size_t copy_estimates(SiteEstimate* out, std::uint32_t max_stack) noexcept;

  void lock_for_fork() noexcept { lock_.lock(); }
  void unlock_after_fork() noexcept { lock_.unlock(); }

 private:
  struct Block {
    std::uintptr_t addr;    // 0 = empty slot
    std::uint64_t size;     // requested bytes
    double weight;          // 1/p at sampling time
    std::uint32_t stack;    // StackTable id (0 = unknown)
    std::uint32_t pad;
  };
  static constexpr std::size_t kCapacity = 1u << 20;  // slots; load <= 3/4
  static constexpr std::size_t kFilterBits = 18;

  bool ensure_mapped_locked() noexcept;
  static std::size_t slot_of(std::uintptr_t addr) noexcept;
  static std::size_t filter_of(std::uintptr_t addr) noexcept {
    return static_cast<std::size_t>(((addr >> 4) * 0xc2b2ae3d27d4eb4full) >> (64 - kFilterBits));
  }
  void erase_slot_locked(std::size_t i) noexcept;

  SpinLock lock_;
  Block* blocks_ = nullptr;          // guarded by lock_
  SiteEstimate* estimates_ = nullptr;  // guarded by lock_; indexed by stack id
  std::size_t live_ = 0;             // guarded by lock_: occupied slots
  // Written under lock_ with relaxed RMW, read without it in maybe_sampled():
  // a block's increment happens-before the program can free that block.
  std::atomic<std::uint16_t>* filter_ = nullptr;
  // Set once (release) after all three regions are mapped.
  std::atomic<bool> mapped_{false};
};

// The one instance: constant-initialized and never destroyed, so valid from
// the first allocation of the process to the last.
extern SampledHeap g_sampled_heap;
inline SampledHeap& SampledHeap::instance() noexcept { return g_sampled_heap; }

}  // namespace syncscope::prof::internal
