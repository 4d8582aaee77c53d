// Storage for one key or one value in a FlatGroupMap slot. Slots are raw
// storage: a cell holds an object only while its slot's tag says so
// (group_meta.h), and the map constructs and destroys it explicitly.
//
//   AtomicWordCell<T>  T trivially copyable, alignof(T) <= 8: the bytes live
//                      in 64-bit words read and written only with relaxed
//                      atomics, so a seqlock reader may copy them while a
//                      writer changes them (it discards the torn copy; see
//                      seq_lock.h). get() returns a copy.
//   PlainCell<T>       any T: the object itself, read under the group's
//                      lock. get() returns a reference.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace syncscope::map::internal {

// Whether T can live in an AtomicWordCell.
template <class T>
inline constexpr bool kFitsAtomicWords =
    std::is_trivially_copyable_v<T> && std::is_copy_constructible_v<T> &&
    alignof(T) <= alignof(std::uint64_t) && sizeof(T) <= 64;

template <class T>
class AtomicWordCell {
  static_assert(kFitsAtomicWords<T>, "AtomicWordCell holds trivially copyable types of alignment <= 8");

 public:
  // A copy of the bytes; torn if a writer is inside (the caller validates).
  T get() const noexcept {
    std::array<unsigned char, kWords * 8> bytes;
    for (std::size_t i = 0; i < kWords; ++i) {
      // relaxed: a seqlock read; ordered by the read_begin/read_valid pair.
      const std::uint64_t w =
          std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(words_[i]))
              .load(std::memory_order_relaxed);
      std::memcpy(bytes.data() + 8 * i, &w, 8);
    }
    std::array<unsigned char, sizeof(T)> exact;
    std::memcpy(exact.data(), bytes.data(), sizeof(T));
    return std::bit_cast<T>(exact);
  }

  // Under the group's (seq)lock.
  void construct(const T& v) noexcept { set(v); }
  void set(const T& v) noexcept {
    std::array<unsigned char, kWords * 8> bytes{};
    std::memcpy(bytes.data(), &v, sizeof(T));
    for (std::size_t i = 0; i < kWords; ++i) {
      std::uint64_t w;
      std::memcpy(&w, bytes.data() + 8 * i, 8);
      // relaxed: a seqlock write, published by the lock's unlock (release)
      // and fenced after the lock's odd version ([S1], seq_lock.h).
      std::atomic_ref<std::uint64_t>(words_[i]).store(w, std::memory_order_relaxed);
    }
  }
  T take() noexcept { return get(); }
  void destroy() noexcept {}

 private:
  static constexpr std::size_t kWords = (sizeof(T) + 7) / 8;
  // Zeroed at construction so that a reader never copies indeterminate bytes.
  alignas(std::uint64_t) std::uint64_t words_[kWords] = {};
};

template <class T>
class PlainCell {
 public:
  const T& get() const noexcept { return *std::launder(reinterpret_cast<const T*>(raw_)); }
  T& ref() noexcept { return *std::launder(reinterpret_cast<T*>(raw_)); }

  template <class... Args>
  void construct(Args&&... args) {
    ::new (static_cast<void*>(raw_)) T(std::forward<Args>(args)...);
  }
  // Moves the object out and ends its lifetime (the moved-from object is
  // destroyed here, under the caller's lock: the family contract allows it).
  T take() noexcept {
    T out(std::move(ref()));
    destroy();
    return out;
  }
  void destroy() noexcept { ref().~T(); }

 private:
  alignas(T) unsigned char raw_[sizeof(T)];
};

}  // namespace syncscope::map::internal
