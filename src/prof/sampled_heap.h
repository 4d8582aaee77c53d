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
//   not take the lock: a sampled block sits behind a prefix whose tag word
//   (where glibc's chunk header word would be) has a bit that no glibc
//   header has (sampled_prefix.h), and free() has read that word already
//   for its counters, so every unsampled free stops there with no further
//   memory access. Samples taken without a prefix (rates below
//   kTaggedSamplingMinRate) switch on a second filter for every free, a
//   bitmap: bit h of filter_bits_ is set iff some sampled live block hashes
//   to h (a zero bit means "not sampled").
//
//   The table and the bitmap index by the same hash (its top bits), so the
//   blocks whose bit is h all have their home slots in one run of the table
//   and sit in the run of occupied slots from there: when a block goes,
//   that run says whether its bit is still needed. No per-bit counts (they
//   were 256 KiB touched at random: a resident page for nearly every
//   sample; issue 16, item 4).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "prof/hook_slow_reasons.h"
#include "prof/sampled_prefix.h"
#include "prof/spin_lock.h"
#include "syncscope/prof/live_blocks.h"

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
  // weight 1/p). `bucket` is the StackTable id whose estimates it books: the
  // same stack interned under the allocating task's label, or `stack`
  // itself outside a task. The block must be behind a prefix
  // (sampled_prefix.h), or note_untagged_sample() must have been called
  // first, or maybe_sampled() would miss it. Returns false when the table is
  // full or unmapped.
  bool record_alloc(std::uintptr_t addr, std::size_t size, std::uint32_t stack,
                    std::uint32_t bucket, double weight) noexcept;

  // Cheap, lock-free pre-check for free(): false means the block at addr,
  // the word before which is `word` (glibc's chunk header or a tag), is
  // surely not a sampled live block.
  bool maybe_sampled(std::uintptr_t addr, std::size_t word) const noexcept {
    if (is_sampled_tag(word)) return true;
    // relaxed: see the invariant at untagged_samples_.
    return untagged_samples_.load(std::memory_order_relaxed) && in_filter(addr);
  }

  // The bitmap stage of maybe_sampled(): false means addr is surely not a
  // sampled live block.
  bool in_filter(std::uintptr_t addr) const noexcept {
    // The bitmap is part of this constant-initialized object (zero = nothing
    // sampled), so the check is one load at a link-time offset: no "mapped"
    // flag, no pointer to chase.
    const std::size_t h = filter_of(addr);
    // relaxed: see the invariant at filter_bits_.
    return (filter_bits_[h / 64].load(std::memory_order_relaxed) >> (h % 64) & 1) != 0;
  }

  // A sampled block is about to be allocated, or was, without a prefix (a
  // sampling rate below kTaggedSamplingMinRate, an alignment too large for
  // one, or no memory for it): from now on maybe_sampled() passes every
  // block without a tag to the bitmap.
  void note_untagged_sample() noexcept {
    // relaxed: see the invariant at untagged_samples_.
    if (!untagged_samples_.load(std::memory_order_relaxed)) {
      untagged_samples_.store(true, std::memory_order_relaxed);
      raise_hook_slow_reason(kSlowUntaggedSample);  // after the flag (hook_slow_reasons.h)
    }
  }
  bool untagged_samples() const noexcept {
    return untagged_samples_.load(std::memory_order_relaxed);  // relaxed: a flag
  }

  // Removes addr if it is a sampled live block and books it as freed.
  void record_free(std::uintptr_t addr) noexcept;
  // Same, unless the lock is held (then nothing: the entry stays stale and is
  // booked freed when its address is sampled again). For the thread holding
  // the live-block table frozen: a thread it stopped may hold the lock.
  void try_record_free(std::uintptr_t addr) noexcept;

  // Copies the estimates of buckets (StackTable ids) 1..max_stack into
  // out[1..] (out[0]: unknown stack).
  // Never allocates; takes lock_. Returns the number of sampled live blocks.
  std::size_t copy_estimates(SiteEstimate* out, std::uint32_t max_stack) noexcept;

  // Copies up to `cap` sampled live blocks as (address, requested size,
  // stack id) into `out`, in table order; returns how many. Takes lock_;
  // never allocates.
  std::size_t copy_live_blocks(LiveBlock* out, std::size_t cap) noexcept;
  // Sampled blocks still live (takes lock_).
  std::size_t live_count() noexcept {
    SpinLockGuard guard(lock_);
    return live_;
  }

  // Bytes mapped for the block table (takes lock_): grows with the number of
  // sampled live blocks, from kInitialCapacity slots.
  std::size_t table_bytes() noexcept {
    SpinLockGuard guard(lock_);
    return capacity_ * sizeof(Block);
  }

  void lock_for_fork() noexcept ABSL_EXCLUSIVE_LOCK_FUNCTION(lock_) { lock_.lock(); }
  void unlock_after_fork() noexcept ABSL_UNLOCK_FUNCTION(lock_) { lock_.unlock(); }

  // Where a reader of a core file of a process with this build finds the
  // sampled blocks inside g_sampled_heap (retain's syncscope-core): byte
  // offsets of blocks_ and capacity_, the slot size and the fields of a slot.
  struct CoreLayout {
    std::size_t blocks_offset, capacity_offset, max_capacity;
    std::size_t slot_bytes, slot_addr, slot_size, slot_stack;
  };
  static CoreLayout core_layout() noexcept;

 private:
  struct Block {
    std::uintptr_t addr;    // 0 = empty slot
    std::uint64_t size;     // requested bytes
    double weight;          // 1/p at sampling time
    std::uint32_t stack;    // StackTable id, no task label (0 = unknown)
    std::uint32_t bucket;   // StackTable id booked in estimates_ (stack + task label)
  };
  // Slots; load <= 3/4. The table starts small and doubles (under lock_)
  // up to kMaxCapacity: its slots are touched at random, so a table mapped at
  // full size would make every sampled block cost a resident page (32 MiB
  // for the first few thousand samples; issue 16, item 4). A program with a
  // 100 MiB heap has about 200 sampled live blocks at the default rate.
  static constexpr std::size_t kInitialCapacity = 1u << 8;  // 8 KiB
  static constexpr std::size_t kMaxCapacity = 1u << 20;      // 32 MiB
  // 2^16 bits (8 KiB): only consulted once a sample without a prefix was
  // taken (then for every free).
  static constexpr std::size_t kFilterBits = 16;

  bool ensure_mapped_locked() noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  // The hash of a block address; its top bits are both the bitmap bit and
  // the home slot (see the implementation notes).
  static std::uint64_t hash_of(std::uintptr_t addr) noexcept { return (addr >> 4) * 0xc2b2ae3d27d4eb4full; }
  static std::size_t filter_of(std::uintptr_t addr) noexcept {
    return static_cast<std::size_t>(hash_of(addr) >> (64 - kFilterBits));
  }
  // Home slot of addr in a table of `capacity` (a power of two, >= 2) slots.
  static std::size_t slot_of(std::uintptr_t addr, std::size_t capacity) noexcept {
    return static_cast<std::size_t>(hash_of(addr) >> (64 - __builtin_ctzll(capacity)));
  }
  // Whether a block in the table has bitmap bit h.
  bool filter_bit_used_locked(std::size_t h) const noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  bool grow_locked() noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  void erase_slot_locked(std::size_t i) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);
  void record_free_locked(std::uintptr_t addr) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);

  SpinLock lock_;
  Block* blocks_ ABSL_GUARDED_BY(lock_) = nullptr;            // capacity_ slots
  std::size_t capacity_ ABSL_GUARDED_BY(lock_) = 0;           // a power of two once mapped
  SiteEstimate* estimates_ ABSL_GUARDED_BY(lock_) = nullptr;  // indexed by Block::bucket
  std::size_t live_ ABSL_GUARDED_BY(lock_) = 0;               // occupied slots
  // Set (never cleared) before the first sampled block without a prefix
  // is recorded, read by maybe_sampled() without a lock: like a
  // filter bit, it is stored before the program can free that block (the
  // free happens-after the malloc, by the program's own ordering).
  std::atomic<bool> untagged_samples_{false};
  // Written under lock_ with relaxed RMW, read without it in maybe_sampled():
  // a block's bit is set before the program can free that block (the free
  // happens-after the malloc that set it, by the program's own ordering);
  // cleared when the last block with that bit leaves the table.
  // 2^kFilterBits bits (8 KiB of .bss: pages never written stay unbacked).
  std::atomic<std::uint64_t> filter_bits_[(std::size_t{1} << kFilterBits) / 64] = {};
  // Set once (release) after the two regions are mapped.
  std::atomic<bool> mapped_{false};
};

// The one instance: constant-initialized and never destroyed, so valid from
// the first allocation of the process to the last.
extern SampledHeap g_sampled_heap;
inline SampledHeap& SampledHeap::instance() noexcept { return g_sampled_heap; }

}  // namespace syncscope::prof::internal
