// The process-wide table of frame shapes, keyed by return address and
// module. Insert-only and lock-free: a slot, once claimed for a key, keeps
// it for the life of the process. A full neighbourhood is reported, not
// evicted, so a reader never sees a slot change under it.
//
//   slot:  key   0                  empty
//                key | kClaimed     being written (readers treat it as absent)
//                key                ready: `shape` holds the packed FrameShape,
//                                   or kRefusedShape
//
// Memory: kShapeSlots * 16 bytes, mapped at first use (MAP_NORESERVE; pages
// become resident as probes touch them).
#pragma once

#include <atomic>
#include <cstdint>

#include "prof/page_alloc.h"

namespace syncscope::prof::internal {

inline constexpr std::uint32_t kShapeSlots = 8192;  // power of two
inline constexpr std::uint32_t kShapeProbes = 16;    // slots tried per key
// A shape describe_frame refused: walks through this address refuse too.
inline constexpr std::uint64_t kRefusedShape = 2;  // bit 0 clear: never a packed shape
// Keys: a link-time-independent runtime PC (below 2^48 on x86-64 user
// space) with the module's registry slot + 1 in the top 15 bits.
inline constexpr std::uint64_t kClaimed = std::uint64_t{1} << 63;

class ShapeCache {
 public:
  // The shape word for `key`, or 0 when absent.
  std::uint64_t find(std::uint64_t key) const noexcept {
    const Slot* slots = slots_.load(std::memory_order_acquire);  // pairs with the release in slots()
    if (slots == nullptr) return 0;
    for (std::uint32_t i = 0, at = home(key); i < kShapeProbes; ++i, at = (at + 1) & (kShapeSlots - 1)) {
      // acquire: pairs with the release store that published the slot's shape.
      const std::uint64_t k = slots[at].key.load(std::memory_order_acquire);
      if (k == key) return slots[at].shape.load(std::memory_order_relaxed);
      if (k == 0) return 0;
    }
    return 0;
  }

  // Stores `shape` for `key`. False when the table could not be mapped or
  // the key's neighbourhood is full (or another thread is storing the same
  // key: then it is as good as stored).
  bool insert(std::uint64_t key, std::uint64_t shape) noexcept {
    Slot* slots = this->slots();
    if (slots == nullptr) return false;
    for (std::uint32_t i = 0, at = home(key); i < kShapeProbes; ++i, at = (at + 1) & (kShapeSlots - 1)) {
      std::uint64_t k = slots[at].key.load(std::memory_order_acquire);
      if (k == 0) {
        // relaxed on failure: k is re-examined below like any loaded key.
        if (slots[at].key.compare_exchange_strong(k, key | kClaimed, std::memory_order_relaxed,
                                                  std::memory_order_relaxed)) {
          slots[at].shape.store(shape, std::memory_order_relaxed);
          // release: the shape above is visible to whoever sees the key.
          slots[at].key.store(key, std::memory_order_release);
          used_.fetch_add(1, std::memory_order_relaxed);  // relaxed: a statistic
          return true;
        }
      }
      if ((k & ~kClaimed) == key) return true;
    }
    return false;
  }

  std::uint64_t used() const noexcept { return used_.load(std::memory_order_relaxed); }

 private:
  struct Slot {
    std::atomic<std::uint64_t> key;    // 0, key | kClaimed, or key (see above)
    std::atomic<std::uint64_t> shape;  // valid once key is published
  };

  static std::uint32_t home(std::uint64_t key) noexcept {
    // A full 64-bit finalizer (MurmurHash3's fmix64). Fibonacci hashing
    // alone clustered return addresses spaced evenly (copies of one function
    // 421 bytes apart, under ASan): 26 of 1,294 keys found no free slot
    // within kShapeProbes in a table 16 % full.
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    key *= 0xc4ceb9fe1a85ec53ull;
    key ^= key >> 33;
    return static_cast<std::uint32_t>(key) & (kShapeSlots - 1);
  }

  // The slots, mapped by the first inserter; nullptr when mmap fails.
  Slot* slots() noexcept {
    Slot* slots = slots_.load(std::memory_order_acquire);  // pairs with the release below
    if (slots != nullptr) return slots;
    auto* fresh = static_cast<Slot*>(map_pages(sizeof(Slot) * kShapeSlots));
    if (fresh == nullptr) return nullptr;
    // release: a finder that loads the pointer sees zeroed (mapped) slots;
    // acquire on failure: the winner's pointer is used instead.
    if (!slots_.compare_exchange_strong(slots, fresh, std::memory_order_release,
                                        std::memory_order_acquire)) {
      unmap_pages(fresh, sizeof(Slot) * kShapeSlots);
      return slots;
    }
    return fresh;
  }

  std::atomic<Slot*> slots_{nullptr};  // kShapeSlots slots once mapped; never unmapped
  std::atomic<std::uint64_t> used_{0};  // slots claimed
};

}  // namespace syncscope::prof::internal
