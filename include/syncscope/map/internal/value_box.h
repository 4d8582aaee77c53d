// The value cells of ReadMostlyMap's entries (Entry::p points to one).
//
// HeapValueBox<V>: an immutable box; replacing a value publishes a new box
// and retires the old one (Go's sync.Map, one allocation per write).
//
// InPlaceValueBox<V>: for word-sized scalar values (integers, enums,
// pointers), the value is an atomic word that replace-writes (swap, store of
// an existing key, compare_and_swap) change in place: no allocation, no
// retire. A box is allocated when its key becomes live and retired when it
// is deleted, as before. Deleting must be atomic with the writes (a swap
// racing a delete must not write into a box the delete already emptied), so
// the box carries a state word: kLocked while one writer changes it, kDead
// once deleted (final). Writers take kLocked for a few instructions (no user
// code runs then: comparing scalars is built in); readers never write.
//
//   read:     v = value.load(acquire) [V1]; state.load(acquire) [V2] & kDead?
//             a box is dead before it leaves its entry, and no write follows
//             the kill, so a value read from a box not yet dead was current.
//   write:    lock (state 0 -> kLocked) [W1]; value.exchange; state = 0 [W2]
//   kill:     lock [W1]; value.load; state = kDead [W2]
//
// When not to use the in-place box: V with an operator== that is not
// bitwise, or wider than a lock-free atomic word (they keep HeapValueBox).
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>
#include <type_traits>
#include <utility>

namespace syncscope::map::internal {

template <class V>
struct HeapValueBox {
  static constexpr bool kInPlace = false;

  template <class... Args>
  explicit HeapValueBox(Args&&... args) : value(std::forward<Args>(args)...) {}

  // Calls f(const V&); a heap box is immutable and never dead.
  template <class F>
  bool read(F&& f) const {
    f(static_cast<const V&>(value));
    return true;
  }
  bool alive() const noexcept { return true; }

  V value;
};

// Scalars whose == is bitwise and whose atomic is a plain machine word.
template <class V>
concept InPlaceValue = (std::is_integral_v<V> || std::is_enum_v<V> || std::is_pointer_v<V>) &&
                       std::atomic<V>::is_always_lock_free;

template <InPlaceValue V>
class InPlaceValueBox {
 public:
  static constexpr bool kInPlace = true;

  explicit InPlaceValueBox(V v) noexcept : value_(v) {}

  // Calls f(const V&) with a copy of the current value; false if the box is
  // dead (its key was deleted).
  template <class F>
  bool read(F&& f) const {
    V v;
    if (!load(v)) return false;
    f(static_cast<const V&>(v));
    return true;
  }

  // The current value into `out`; false if the box is dead.
  bool load(V& out) const noexcept {
    // acquire [V1]: orders the state load below after this load; the value
    // itself is a scalar and publishes nothing (the box's construction is
    // published by the entry's pointer, release/acquire there).
    const V v = value_.load(std::memory_order_acquire);
    // acquire [V2]: pairs with the release [W2] of a kill: a reader that
    // does not see kDead read a value the box held while live.
    if ((state_.load(std::memory_order_acquire) & kDead) != 0) return false;
    out = v;
    return true;
  }

  bool alive() const noexcept {
    // acquire: pairs with [W2], as in read().
    return (state_.load(std::memory_order_acquire) & kDead) == 0;
  }

  // Replaces the value, returning the previous one in `previous`. False if
  // the box is dead (nothing written).
  bool try_exchange(V v, V& previous) noexcept {
    if (!lock()) return false;
    // relaxed: under the box lock; unlock's release publishes the order.
    previous = value_.exchange(v, std::memory_order_relaxed);
    unlock(0);
    return true;
  }

  // Compare-and-swap under the box lock. False if the box is dead; else
  // `swapped` says whether the value equalled `expected`.
  bool try_compare_and_swap(V expected, V desired, bool& swapped) noexcept {
    if (!lock()) return false;
    // relaxed: under the box lock (see try_exchange).
    swapped = value_.load(std::memory_order_relaxed) == expected;
    if (swapped) value_.store(desired, std::memory_order_relaxed);
    unlock(0);
    return true;
  }

  // Kills the box (the delete's linearization point) and hands out its last
  // value. False if it was already dead.
  bool try_kill(V& last) noexcept {
    if (!lock()) return false;
    last = value_.load(std::memory_order_relaxed);  // relaxed: under the box lock
    unlock(kDead);
    return true;
  }

  // Kills the box if its value equals `expected`. False if dead or unequal.
  bool try_kill_if_equal(V expected) noexcept {
    if (!lock()) return false;
    const bool equal = value_.load(std::memory_order_relaxed) == expected;  // relaxed: locked
    unlock(equal ? kDead : 0);
    return equal;
  }

 private:
  static constexpr std::uint32_t kLocked = 1;  // a writer is changing the value
  static constexpr std::uint32_t kDead = 2;    // deleted; final, never unlocked again

  // Takes the writer lock unless the box is dead. The holder runs a handful
  // of instructions and no user code, so the wait is bounded by that (plus
  // the holder's preemption, which the yield lets the scheduler end).
  bool lock() noexcept {
    // relaxed: a first look; the CAS below acquires.
    std::uint32_t s = state_.load(std::memory_order_relaxed);
    for (unsigned spins = 0;; ++spins) {
      if ((s & kDead) != 0) return false;
      // acquire [W1]: pairs with the previous holder's release [W2], so its
      // value write is ordered before ours.
      if (s == 0 && state_.compare_exchange_weak(s, kLocked, std::memory_order_acquire,
                                                 std::memory_order_relaxed)) {
        return true;
      }
      if (s != 0) {
        if (spins >= kSpinsBeforeYield) std::this_thread::yield();
        // relaxed: re-read only; the CAS acquires.
        s = state_.load(std::memory_order_relaxed);
      }
    }
  }
  // release [W2]: publishes the value write (or the kill) to readers [V2]
  // and to the next lock holder [W1].
  void unlock(std::uint32_t next) noexcept { state_.store(next, std::memory_order_release); }

  static constexpr unsigned kSpinsBeforeYield = 64;

  std::atomic<V> value_;              // the value; written only under kLocked
  std::atomic<std::uint32_t> state_{0};  // kLocked | kDead bits
};

// The box ReadMostlyMap uses for V.
template <class V>
struct ValueBoxFor {
  using type = HeapValueBox<V>;
};
template <InPlaceValue V>
struct ValueBoxFor<V> {
  using type = InPlaceValueBox<V>;
};

}  // namespace syncscope::map::internal
