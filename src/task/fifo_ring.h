// FifoRing: the executor's queue storage, a FIFO in a circular array that
// doubles when full and never shrinks. Unlike std::deque, which allocates
// and frees a node every few elements as a queue slides through it, a
// queue whose length stays within what it has reached before allocates
// nothing.
//
// Not thread-safe: the owner guards it (the executor's queue mutex).
// Complexity: push_back amortized O(1), pop_front O(1).
// When not to use: when the peak length is huge but rare (memory is kept).
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>
#include <vector>

namespace syncscope::task::internal {

template <class T>
  requires std::is_default_constructible_v<T> && std::is_move_assignable_v<T>
class FifoRing {
 public:
  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

  void push_back(T&& value) {
    if (size_ == slots_.size()) grow();
    slots_[(head_ + size_) & (slots_.size() - 1)] = std::move(value);
    ++size_;
  }
  T& front() noexcept { return slots_[head_]; }
  // Leaves a default-constructed T in the slot, so what the element held
  // is released now, not when the slot is reused.
  void pop_front() noexcept {
    slots_[head_] = T();
    head_ = (head_ + 1) & (slots_.size() - 1);
    --size_;
  }

 private:
  static constexpr std::size_t kInitialSlots = 16;
  static_assert((kInitialSlots & (kInitialSlots - 1)) == 0, "slots_.size() stays a power of two");

  void grow() {
    std::vector<T> bigger(slots_.empty() ? kInitialSlots : slots_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
    slots_ = std::move(bigger);
    head_ = 0;
  }

  std::vector<T> slots_;  // size 0 or a power of two; elements [head_, head_ + size_) mod size
  std::size_t head_ = 0;  // index of the oldest element; < slots_.size() when non-empty
  std::size_t size_ = 0;  // elements queued; <= slots_.size()
};

}  // namespace syncscope::task::internal
