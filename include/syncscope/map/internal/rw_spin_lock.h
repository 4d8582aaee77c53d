// RwSpinLock: a reader-writer spin lock in one 32-bit word, for locks held
// for a few loads and stores (FlatGroupMap's groups, and the stripes of its
// table gate, striped_rw_lock.h). Writers are preferred: a waiting writer
// stops new readers, so a stream of readers cannot starve a rehash.
//
// Contract
//   - lock()/unlock()/try_lock() and lock_shared()/unlock_shared()/
//     try_lock_shared(): usable with std::unique_lock and std::shared_lock.
//     Contended lock() and lock_shared() are timed (lock_contention.h).
//   - Not recursive, neither side: a thread holding it must not take it
//     again (the maps' ReentrancyCheck catches that in debug builds).
//   - Readers write the lock word: use one lock per cache line when many
//     threads read (the stripes do exactly that).
//
// When not to use: for anything held across a system call or a user
// callback; a waiter spins and then yields, it never sleeps.
#pragma once

#include <atomic>
#include <cstdint>

#include "syncscope/map/internal/spin_backoff.h"
#include "syncscope/map/lock_contention.h"

namespace syncscope::map::internal {

class RwSpinLock {
 public:
  bool try_lock() noexcept {
    // relaxed: only a hint for the CAS.
    std::uint32_t w = word_.load(std::memory_order_relaxed);
    while ((w & ~kWriterWaiting) == 0) {
      // acquire: pairs with the release in unlock() and unlock_shared(): the
      // previous holders' accesses happen before ours. Clears kWriterWaiting
      // (another waiting writer sets it again).
      if (word_.compare_exchange_weak(w, kWriter, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }

  void lock() {
    if (try_lock()) return;
    lock_contended([this] {
      SpinBackoff backoff;
      while (!try_lock()) {
        // relaxed: announces a waiting writer so new readers hold back;
        // publishes nothing.
        if ((word_.load(std::memory_order_relaxed) & kWriterWaiting) == 0) {
          word_.fetch_or(kWriterWaiting, std::memory_order_relaxed);
        }
        backoff.pause();
      }
    });
  }

  void unlock() noexcept {
    // release: publishes the writes made under the lock; pairs with the
    // acquire in try_lock() and try_lock_shared().
    word_.fetch_sub(kWriter, std::memory_order_release);
  }

  bool try_lock_shared() noexcept {
    // acquire: pairs with the release in unlock(): the last writer's
    // accesses happen before our reads.
    const std::uint32_t w = word_.fetch_add(kReader, std::memory_order_acquire);
    if ((w & (kWriter | kWriterWaiting)) == 0) return true;
    // relaxed: takes back our own increment; we read nothing under it.
    word_.fetch_sub(kReader, std::memory_order_relaxed);
    return false;
  }

  void lock_shared() {
    if (try_lock_shared()) return;
    lock_contended([this] {
      SpinBackoff backoff;
      while (!try_lock_shared()) backoff.pause();
    });
  }

  void unlock_shared() noexcept {
    // release: our reads happen before the next writer's writes; pairs with
    // the acquire CAS in try_lock().
    word_.fetch_sub(kReader, std::memory_order_release);
  }

 private:
  static constexpr std::uint32_t kWriter = 1;         // a writer holds the lock
  static constexpr std::uint32_t kWriterWaiting = 2;  // a writer waits: readers hold back
  static constexpr std::uint32_t kReader = 4;         // one reader (count in bits 2..31)

  // kWriter | kWriterWaiting | readers * kReader. A reader that finds a
  // writer bit adds and takes back kReader, so a writer may see short-lived
  // reader counts and waits them out.
  std::atomic<std::uint32_t> word_{0};
};

}  // namespace syncscope::map::internal
