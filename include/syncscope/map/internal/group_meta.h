// The metadata of one FlatGroupMap group: 16 bytes in two atomic words.
// Bytes 0..14 are the tags of the group's 15 slots (0: empty; otherwise 1..255,
// a byte of the key's hash); byte 15 is the overflow byte: bit b is set
// once an insert whose hash has overflow bit b found the group full and
// went on to the next group of its probe sequence. A lookup stops at the
// first group whose overflow bit for its hash is clear: the key cannot be
// further on. Overflow bits are cleared only by a rehash.
//
// Readers load the words without a lock (the lock-free metadata probe) or
// inside a seqlock read; writers store them under the group's lock.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace syncscope::map::internal {

inline constexpr std::size_t kGroupSlots = 15;

// A hash, mixed and cut into the pieces the table uses.
struct HashedKey {
  std::uint64_t mixed;  // Fibonacci-mixed hash: the top bits pick the home group
  std::uint8_t tag;     // 1..255, stored in the slot's metadata byte
  std::uint8_t overflow_bit;  // 1 << (0..7)

  static HashedKey from(std::uint64_t hash) noexcept {
    // Mixing makes weak hashes (std::hash of integers is the identity)
    // spread over groups; the tag and overflow bits come from bits the
    // home-group index does not use while the table has < 2^24 groups.
    const std::uint64_t mixed = hash * 0x9E3779B97F4A7C15ull;
    const auto byte = static_cast<std::uint8_t>(mixed >> 32);
    return {mixed, static_cast<std::uint8_t>(byte == 0 ? 1 : byte),
            static_cast<std::uint8_t>(1u << ((mixed >> 40) & 7))};
  }
};

// A snapshot of a group's metadata words.
struct MetaWords {
  std::uint64_t lo;  // tags of slots 0..7
  std::uint64_t hi;  // tags of slots 8..14, overflow byte in the top byte

  // Slot bitmask (bit i: slot i) of the slots whose tag is `tag`.
  std::uint32_t match(std::uint8_t tag) const noexcept {
    const std::uint64_t spread = 0x0101010101010101ull * tag;
    return compress(zero_bytes(lo ^ spread)) |
           (compress(zero_bytes(hi ^ spread) & kHiSlotBytes) << 8);
  }
  std::uint32_t empty() const noexcept { return match_zero(); }
  std::uint32_t occupied() const noexcept { return ~match_zero() & kAllSlots; }
  bool overflowed(const HashedKey& h) const noexcept {
    return ((hi >> 56) & h.overflow_bit) != 0;
  }

  bool any_overflow() const noexcept { return (hi >> 56) != 0; }

  static constexpr std::uint32_t kAllSlots = (1u << kGroupSlots) - 1;

 private:
  static constexpr std::uint64_t kHiSlotBytes = 0x00FFFFFFFFFFFFFFull;  // bytes of slots 8..14

  std::uint32_t match_zero() const noexcept {
    return compress(zero_bytes(lo)) | (compress(zero_bytes(hi) & kHiSlotBytes) << 8);
  }
  // 0x80 in each byte of x that is zero, exactly (no borrow between bytes).
  static std::uint64_t zero_bytes(std::uint64_t x) noexcept {
    constexpr std::uint64_t k7f = 0x7F7F7F7F7F7F7F7Full;
    const std::uint64_t y = (x & k7f) + k7f;
    return ~(y | x | k7f);
  }
  // One bit per byte: byte i's high bit -> bit i.
  static std::uint32_t compress(std::uint64_t high_bits) noexcept {
    return static_cast<std::uint32_t>(((high_bits >> 7) * 0x0102040810204080ull) >> 56);
  }
};

// The two metadata words of a group.
class GroupMeta {
 public:
  MetaWords load(std::memory_order order) const noexcept {
    return {lo_.load(order), hi_.load(order)};
  }

  // Under the group's lock. release: an unlocked reader that sees the tag
  // (or overflow bit) sees it only after the stores sequenced before it;
  // pairs with the acquire loads of the lock-free probe.
  void set_tag(std::size_t slot, std::uint8_t tag) noexcept {
    std::atomic<std::uint64_t>& w = slot < 8 ? lo_ : hi_;
    const unsigned shift = 8 * static_cast<unsigned>(slot % 8);
    // relaxed load: only the lock holder writes the words.
    const std::uint64_t old = w.load(std::memory_order_relaxed);
    w.store((old & ~(0xFFull << shift)) | (std::uint64_t{tag} << shift),
            std::memory_order_release);
  }
  void clear_tag(std::size_t slot) noexcept { set_tag(slot, 0); }
  void set_overflow(const HashedKey& h) noexcept {
    // relaxed load: only the lock holder writes the words; release: as set_tag.
    const std::uint64_t old = hi_.load(std::memory_order_relaxed);
    const std::uint64_t bit = std::uint64_t{h.overflow_bit} << 56;
    if ((old & bit) == 0) hi_.store(old | bit, std::memory_order_release);
  }

 private:
  std::atomic<std::uint64_t> lo_{0};
  std::atomic<std::uint64_t> hi_{0};
};

}  // namespace syncscope::map::internal
