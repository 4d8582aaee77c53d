// FutexRwLock: the reader-writer lock of the lock-based maps (LockedMap,
// ShardedMap, PooledShardedMap): one 32-bit word, a bounded spin, then a
// futex sleep. It replaces std::shared_mutex (glibc's pthread_rwlock), whose
// every acquisition goes through a heavier state machine and whose
// contended unlock wakes a futex sleeper with a system call even when the
// waiter would have had the lock a few hundred nanoseconds later.
//
// Contract
//   - lock()/unlock()/try_lock() and lock_shared()/unlock_shared()/
//     try_lock_shared(): drop-in for std::shared_mutex with
//     std::unique_lock and std::shared_lock. Contended lock() and
//     lock_shared() are timed (lock_contention.h), so the mutex profile
//     (/debug/pprof/mutex) sees the maps' waits as before.
//   - Writer-preferring: a waiting writer stops new readers (glibc's
//     default rwlock lets readers overtake a waiting writer, so a stream of
//     readers can starve it).
//   - Not fair: an unlocking thread may take the lock again before a
//     waiter wakes (as Go's sync.Mutex in normal mode); this is what keeps
//     one hot key's lock line on one core for a run of operations.
//   - Not recursive, neither side: a thread holding it must not take it
//     again (with a writer waiting, a second lock_shared() would deadlock;
//     the maps' ReentrancyCheck catches that in debug builds).
//   - Every wait is bounded in spinning: at most kSpinPauses pauses, then the
//     waiter sleeps on the word (futex) until an unlock wakes it.
//
// Implementation notes
//   word_:  | readers (bits 3..31) | kSleepers | kWriterWaiting | kWriter |
//   - A sleeper sets kSleepers with a read-modify-write and sleeps only on
//     the value that RMW produced; any later change of the word makes the
//     futex wait return at once, so a wake-up cannot be lost between the
//     sleeper's check and its sleep.
//   - The unlock that leaves the lock free for a sleeper (a writer's
//     unlock; the last reader's unlock) clears kSleepers in the same RMW
//     and wakes every sleeper; those that lose the race set it again.
//   - A writer acquiring keeps kSleepers (other sleepers still sleep), so
//     its unlock wakes them.
//
// When not to use: for locks held across long work while many threads
// read; readers share one counter, so reads on many cores contend on its
// line (ReadMostlyMap and FlatGroupMap's striped gate avoid that).
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>

#include "syncscope/map/internal/spin_backoff.h"
#include "syncscope/map/lock_contention.h"

namespace syncscope::map::internal {

class FutexRwLock {
 public:
  FutexRwLock() = default;
  FutexRwLock(const FutexRwLock&) = delete;
  FutexRwLock& operator=(const FutexRwLock&) = delete;

  bool try_lock() noexcept {
    // relaxed: only a hint for the CAS.
    std::uint32_t w = word_.load(std::memory_order_relaxed);
    while (free_for_writer(w)) {
      // acquire: pairs with the release in unlock() and unlock_shared() [L1]:
      // the previous holders' accesses happen before ours.
      if (word_.compare_exchange_weak(w, (w | kWriter) & ~kWriterWaiting,
                                      std::memory_order_acquire, std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }

  void lock() {
    if (try_lock()) return;
    lock_contended([this] { lock_slow(); });
  }

  void unlock() noexcept {
    // [L1] release: publishes the writes made under the lock; pairs with the
    // acquire in try_lock() and try_lock_shared().
    const std::uint32_t old =
        word_.fetch_and(~(kWriter | kSleepers), std::memory_order_release);
    if ((old & kSleepers) != 0) wake_all();
  }

  bool try_lock_shared() noexcept {
    // acquire: pairs with [L1] in unlock(): the last writer's accesses
    // happen before our reads.
    const std::uint32_t w = word_.fetch_add(kReader, std::memory_order_acquire);
    if ((w & (kWriter | kWriterWaiting)) == 0) return true;
    unlock_shared();  // takes back our increment (and wakes a writer it held up)
    return false;
  }

  void lock_shared() {
    if (try_lock_shared()) return;
    lock_contended([this] { lock_shared_slow(); });
  }

  void unlock_shared() noexcept {
    // [L1] release: our reads happen before the next writer's writes; pairs
    // with the acquire CAS in try_lock().
    const std::uint32_t old = word_.fetch_sub(kReader, std::memory_order_release);
    if ((old & kSleepers) != 0 && readers(old) == 1) wake_sleepers_if_free();
  }

 private:
  static constexpr std::uint32_t kWriter = 1;         // a writer holds the lock
  static constexpr std::uint32_t kWriterWaiting = 2;  // a writer waits: readers hold back
  static constexpr std::uint32_t kSleepers = 4;       // a thread may sleep on word_
  static constexpr std::uint32_t kReader = 8;         // one reader (count in bits 3..31)

  // Pauses before a waiter sleeps: about 2 to 25 microseconds (a PAUSE
  // takes ~10 cycles before Intel's Skylake, ~140 since), many times the
  // maps' critical sections (one hash-table operation) and about the cost
  // of a futex sleep and wake (two system calls and two context switches).
  static constexpr int kSpinPauses = 512;
  // Longest gap between two polls of the word. Polling reads the lock's
  // line into the waiter's cache, and the holder's unlock must then take
  // it back: waiting longer between polls lets the holder run several
  // critical sections while the line stays in its cache.
  static constexpr int kMaxPollGap = 32;

  // The bounded spin of a waiter: exponentially longer gaps between polls.
  class PollBackoff {
   public:
    // Pauses before the next poll; false once the spin budget is spent.
    bool pause() noexcept {
      if (spent_ >= kSpinPauses) return false;
      for (int i = 0; i < gap_; ++i) SpinBackoff::cpu_relax();
      spent_ += gap_;
      if (gap_ < kMaxPollGap) gap_ *= 2;
      return true;
    }

   private:
    int spent_ = 0;
    int gap_ = 1;
  };

  static std::uint32_t readers(std::uint32_t w) noexcept { return w / kReader; }
  static bool free_for_writer(std::uint32_t w) noexcept {
    return (w & kWriter) == 0 && readers(w) == 0;
  }
  static bool free_for_reader(std::uint32_t w) noexcept {
    return (w & (kWriter | kWriterWaiting)) == 0;
  }

  void lock_slow() {
    for (PollBackoff backoff;;) {
      if (try_lock()) return;
      // relaxed: the bits only steer waiting; the CAS in try_lock() orders.
      std::uint32_t w = word_.load(std::memory_order_relaxed);
      if ((w & kWriterWaiting) == 0) {
        // relaxed: announces a waiting writer so new readers hold back;
        // publishes nothing.
        w = word_.fetch_or(kWriterWaiting, std::memory_order_relaxed) | kWriterWaiting;
      }
      if (free_for_writer(w) || backoff.pause()) continue;
      sleep_unless(kWriterWaiting, [](std::uint32_t v) { return free_for_writer(v); });
      backoff = PollBackoff();  // woken: spin again before the next sleep
    }
  }

  void lock_shared_slow() {
    for (PollBackoff backoff;;) {
      // relaxed: only a hint; try_lock_shared() orders.
      const std::uint32_t w = word_.load(std::memory_order_relaxed);
      if (free_for_reader(w)) {
        if (try_lock_shared()) return;
        continue;
      }
      if (backoff.pause()) continue;
      sleep_unless(0, [](std::uint32_t v) { return free_for_reader(v); });
      backoff = PollBackoff();  // woken: spin again before the next sleep
    }
  }

  // Sets kSleepers (and `extra`) and sleeps on the resulting word unless it
  // shows the lock free for the caller. Returns on a wake-up, on any change
  // of the word, or at once when free.
  template <class FreeFor>
  void sleep_unless(std::uint32_t extra, FreeFor free_for) noexcept {
    // relaxed: the futex compares the word itself; the acquiring RMW after
    // the wake-up orders the data.
    const std::uint32_t w =
        word_.fetch_or(kSleepers | extra, std::memory_order_relaxed) | kSleepers | extra;
    if (free_for(w)) return;
    futex(FUTEX_WAIT_PRIVATE, w);
  }

  // The last reader left while someone slept: clear kSleepers and wake them
  // (a reader that entered meanwhile only makes the wake-up spurious).
  void wake_sleepers_if_free() noexcept {
    // relaxed: wakes, publishes nothing (unlock_shared's RMW did).
    const std::uint32_t old = word_.fetch_and(~kSleepers, std::memory_order_relaxed);
    if ((old & kSleepers) != 0) wake_all();
  }

  void wake_all() noexcept { futex(FUTEX_WAKE_PRIVATE, INT_MAX); }

  void futex(int op, std::uint32_t value) noexcept {
    static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t),
                  "the futex word is the atomic's storage");
    ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word_), op, value, nullptr, nullptr, 0);
  }

  // kWriter | kWriterWaiting | kSleepers | readers * kReader. A reader that
  // finds a writer bit adds and takes back kReader, so a writer may see
  // short-lived reader counts and waits them out.
  std::atomic<std::uint32_t> word_{0};
};

}  // namespace syncscope::map::internal
