// Dense ids for distinct keys, in order of first insertion: a small
// open-addressing table (linear probing, power-of-two size, at most half
// full) over a vector of the keys. The address-only profile numbers its
// strings, functions and locations this way; it needs no hashing or rehash
// policy from the C++ library, so the LD_PRELOAD core object links none
// (issue 16, item 1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace syncscope::prof::internal {

// 64-bit FNV-1a of `s` (the published offset basis and prime).
inline std::uint64_t fnv1a(std::string_view s) noexcept {
  std::uint64_t h = 14695981039346656037ull;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
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
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash(key) >> shift_;; i = (i + 1) & mask) {
      const std::uint32_t s = slots_[i];
      if (s == 0) {
        keys_.push_back(Key(key));
        slots_[i] = static_cast<std::uint32_t>(keys_.size());
        if (inserted != nullptr) *inserted = true;
        return keys_.size() - 1;
      }
      if (keys_[s - 1] == key) {
        if (inserted != nullptr) *inserted = false;
        return s - 1;
      }
    }
  }
  std::size_t size() const noexcept { return keys_.size(); }
  // The keys by id.
  const std::vector<Key>& keys() const noexcept { return keys_; }

 private:
  static std::uint64_t hash(Lookup key) noexcept {
    if constexpr (std::is_same_v<Key, std::string>) {
      return mix_u64(fnv1a(key));
    } else {
      return mix_u64(static_cast<std::uint64_t>(key));
    }
  }
  void grow() {
    const std::size_t size = slots_.empty() ? 64 : slots_.size() * 2;
    slots_.assign(size, 0);
    shift_ = 64;
    for (std::size_t s = size; s > 1; s >>= 1) --shift_;
    const std::size_t mask = size - 1;
    for (std::size_t k = 0; k < keys_.size(); ++k) {
      std::size_t i = hash(keys_[k]) >> shift_;
      while (slots_[i] != 0) i = (i + 1) & mask;
      slots_[i] = static_cast<std::uint32_t>(k + 1);
    }
  }

  std::vector<Key> keys_;              // by id
  // Invariant: size 0 or a power of two at least twice keys_.size(); each
  // entry 0 (empty) or id + 1 of the key whose probe sequence passes it.
  std::vector<std::uint32_t> slots_;
  int shift_ = 64;                     // 64 - log2(slots_.size())
};

}  // namespace syncscope::prof::internal
