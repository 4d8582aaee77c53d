// A tiny test-and-test-and-set lock for the allocation-hook path: constant
// initialized (usable before any constructor runs), trivially destructible
// (usable after static destructors), never allocates. Critical sections under
// it are short and never call malloc.
#pragma once

#include <sched.h>

#include <atomic>

#include "absl/base/thread_annotations.h"  // macros only: nothing to link

namespace syncscope::prof::internal {

class ABSL_LOCKABLE SpinLock {
 public:
  constexpr SpinLock() = default;
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  void lock() noexcept ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    // acquire: the critical section's reads see the previous holder's writes
    // (pairs with the release in unlock()).
    while (locked_.exchange(true, std::memory_order_acquire)) {
      int spins = 0;
      // relaxed: polling only; the exchange above provides the ordering.
      while (locked_.load(std::memory_order_relaxed)) {
        if (++spins > 64) sched_yield();
      }
    }
  }
  // Takes the lock only if it is free now; never waits.
  bool try_lock() noexcept ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    // relaxed: a cheap pre-check; the exchange orders. acquire: as in lock().
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept ABSL_UNLOCK_FUNCTION() {
    // release: publishes the critical section's writes to the next holder.
    locked_.store(false, std::memory_order_release);
  }

 private:
  std::atomic<bool> locked_{false};
};

class ABSL_SCOPED_LOCKABLE SpinLockGuard {
 public:
  explicit SpinLockGuard(SpinLock& l) noexcept ABSL_EXCLUSIVE_LOCK_FUNCTION(l) : l_(l) { l_.lock(); }
  ~SpinLockGuard() ABSL_UNLOCK_FUNCTION() { l_.unlock(); }
  SpinLockGuard(const SpinLockGuard&) = delete;
  SpinLockGuard& operator=(const SpinLockGuard&) = delete;

 private:
  SpinLock& l_;
};

}  // namespace syncscope::prof::internal
