// Dense ids for distinct keys, in order of first insertion: a small
// open-addressing table (linear probing, power-of-two size, at most half
// full) over a vector of the keys. The address-only profile numbers its
// strings, functions and locations this way; it needs no hashing or rehash
// policy from the C++ library, so the LD_PRELOAD core object links none
// (issue 16, item 1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace syncscope::prof::internal {

// A 64-bit hash of `s`, eight bytes per step (each word xor-ed in and
// multiplied by an odd constant, the tail bytes likewise); the table takes
// the high bits of mix_u64 of it.
inline std::uint64_t hash_bytes(std::string_view s) noexcept {
  constexpr std::uint64_t kMul = 0x9e3779b97f4a7c15ull;  // 2^64 / phi, odd
  std::uint64_t h = s.size() * kMul;
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  std::uint64_t tail = 0;
  std::memcpy(&tail, s.data() + i, s.size() - i);
  h = (h ^ tail) * kMul;
  return h ^ (h >> 32);
}

// An integer key spread over 64 bits (multiplication by 2^64 / phi); the
// table uses the high bits.
inline std::uint64_t mix_u64(std::uint64_t k) noexcept { return k * 0x9e3779b97f4a7c15ull; }

// `Key`: std::string (looked up by std::string_view) or an unsigned integer.
template <class Key>
class InsertionIds {
 public:
  using Lookup = std::conditional_t<std::is_same_v<Key, std::string>, std::string_view, Key>;

  // The id of `key` (0, 1, 2, ... in order of first insertion), inserting it
  // when new; `*inserted` (optional) tells which.
  std::size_t id(Lookup key, bool* inserted = nullptr) {
    if ((keys_.size() + 1) * 2 > slots_.size()) grow();
    const std::uint32_t tag = static_cast<std::uint32_t>(hash(key) >> 32);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = tag >> tag_shift_;; i = (i + 1) & mask) {
      const Slot s = slots_[i];
      if (s.id_plus_1 == 0) {
        keys_.push_back(Key(key));
        slots_[i] = Slot{static_cast<std::uint32_t>(keys_.size()), tag};
        if (inserted != nullptr) *inserted = true;
        return keys_.size() - 1;
      }
      if (s.tag == tag && keys_[s.id_plus_1 - 1] == key) {
        if (inserted != nullptr) *inserted = false;
        return s.id_plus_1 - 1;
      }
    }
  }
  std::size_t size() const noexcept { return keys_.size(); }
  // The keys by id.
  const std::vector<Key>& keys() const noexcept { return keys_; }

 private:
  struct Slot {
    std::uint32_t id_plus_1;  // 0: empty
    std::uint32_t tag;        // the high 32 bits of the key's hash
  };
  static std::uint64_t hash(Lookup key) noexcept {
    if constexpr (std::is_same_v<Key, std::string>) {
      return mix_u64(hash_bytes(key));
    } else {
      return mix_u64(static_cast<std::uint64_t>(key));
    }
  }
  // Doubles the table; the stored tags give each key's new home, so no key
  // is hashed again.
  void grow() {
    std::vector<Slot> old;
    old.swap(slots_);
    const std::size_t size = old.empty() ? 64 : old.size() * 2;
    slots_.assign(size, Slot{0, 0});
    tag_shift_ = 32;
    for (std::size_t n = size; n > 1; n >>= 1) --tag_shift_;
    const std::size_t mask = size - 1;
    for (const Slot& s : old) {
      if (s.id_plus_1 == 0) continue;
      std::size_t i = s.tag >> tag_shift_;
      while (slots_[i].id_plus_1 != 0) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }

  std::vector<Key> keys_;  // by id
  // Invariant: size 0 or a power of two (at most 2^32) at least twice
  // keys_.size(); each key's slot is on the probe path from its home,
  // tag >> tag_shift_, with no empty slot between.
  std::vector<Slot> slots_;
  int tag_shift_ = 32;  // 32 - log2(slots_.size())
};

}  // namespace syncscope::prof::internal
