// FutexLock: a mutex in one futex word, for the locks a tracked task takes
// or constructs per task: the task registry's shards (the finishing worker
// takes its task's shard once per task, almost always uncontended), and a
// task record's own locks (its blocking facts, its lazy stop state). There
// a pthread mutex costs about 60 instructions to lock and unlock and 40
// bytes to construct; this lock's one compare-exchange and one exchange,
// inline, about 8, and 4 bytes.
//
// Contract: a mutex (lock / try_lock / unlock, not recursive), visible to
// clang's thread-safety analysis. A waiter spins briefly, then sleeps on the
// word in slices of at most kSleepSlice and re-checks (every wait bounded).
//
// Implementation notes: the word is 0 (free), 1 (held), 2 (held, and a
// waiter may sleep): the three-state futex mutex of U. Drepper's "Futexes
// Are Tricky" (2011), section 6. unlock() wakes one sleeper only when the
// word was 2.
//
// When not to use: for long critical sections under contention (no
// fairness; a sleeper may be overtaken by a spinner).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "task/futex_word.h"

namespace syncscope::task::internal {

class ABSL_LOCKABLE FutexLock {
 public:
  FutexLock() = default;
  FutexLock(const FutexLock&) = delete;
  FutexLock& operator=(const FutexLock&) = delete;

  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    std::uint32_t seen = 0;
    // [L1] acquire: the previous holder's writes are visible; pairs with [L2].
    if (!word_.compare_exchange_strong(seen, 1, std::memory_order_acquire, std::memory_order_relaxed)) {
      lock_contended(seen);
    }
  }
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    std::uint32_t seen = 0;
    // acquire: as [L1].
    return word_.compare_exchange_strong(seen, 1, std::memory_order_acquire, std::memory_order_relaxed);
  }
  void unlock() ABSL_UNLOCK_FUNCTION() {
    // [L2] release: publishes the critical section's writes to the next
    // holder; pairs with [L1] and [L3].
    if (word_.exchange(0, std::memory_order_release) == 2) futex_wake_one(word_);
  }

 private:
  static constexpr auto kSleepSlice = std::chrono::milliseconds(50);

  static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
  static constexpr int kSpins = 64;

  void lock_contended(std::uint32_t seen) {
    for (int i = 0; i < kSpins && seen == 1; ++i) {
      cpu_relax();
      seen = 0;
      // acquire: as [L1].
      if (word_.compare_exchange_weak(seen, 1, std::memory_order_acquire, std::memory_order_relaxed)) return;
    }
    // [L3] acquire: taking the word (from 0) is taking the lock; pairs with
    // [L2]. Marked 2, so the holder's unlock wakes a sleeper.
    while (word_.exchange(2, std::memory_order_acquire) != 0) futex_wait_for(word_, 2, kSleepSlice);
  }

  std::atomic<std::uint32_t> word_{0};  // 0 free, 1 held, 2 held with possible sleepers
};

// std::lock_guard over a FutexLock, as the analysis sees it.
class ABSL_SCOPED_LOCKABLE FutexLockGuard {
 public:
  explicit FutexLockGuard(FutexLock& lock) ABSL_EXCLUSIVE_LOCK_FUNCTION(lock) : lock_(lock) { lock_.lock(); }
  ~FutexLockGuard() ABSL_UNLOCK_FUNCTION() { lock_.unlock(); }
  FutexLockGuard(const FutexLockGuard&) = delete;
  FutexLockGuard& operator=(const FutexLockGuard&) = delete;

 private:
  FutexLock& lock_;
};

}  // namespace syncscope::task::internal
