// SeqLock: a writer lock whose readers write nothing. One 32-bit version
// word: even = free, odd = a writer is inside. A writer makes it odd
// (compare-and-swap), changes the data, and makes it even again (a new
// value). A reader notes the version, copies the data with atomic loads,
// and keeps the copy only if the version is even and unchanged afterwards;
// otherwise it retries (or takes the lock itself: FlatGroupMap bounds its
// optimistic tries).
//
// Contract
//   - Data guarded by a SeqLock is read and written only through atomics
//     (relaxed), so a reader racing a writer sees torn data but never
//     undefined behaviour; read_valid() tells it to discard such a copy.
//   - lock()/unlock()/try_lock() make it a BasicLockable for
//     std::unique_lock. A contended lock() is timed (lock_contention.h).
//   - No reader side that blocks: there is no lock_shared().
//
// Memory order (Boehm, "Can seqlocks get along with programming language
// memory models?", 2012): the writer's acquiring CAS is followed by a
// release fence [S1] before its data stores; the reader's data loads are
// followed by an acquire fence [S2] before it re-reads the version. A reader
// that saw any of a writer's data stores therefore sees that writer's odd
// version (or later) on the re-read, and discards its copy. TSan does not
// model these fences; it reports nothing here because every guarded access
// is atomic, and the map's TSan tests check the values read, not the fences.
// GCC rejects fences under -fsanitize=thread: in TSan builds (SYNCSCOPE_TSAN)
// a seq_cst lock CAS stands in for [S1] and a read-don't-modify-write of
// the version (fetch_add(0), acq_rel; Boehm's alternative) for [S2].
#pragma once

#include <atomic>
#include <cstdint>

#include "syncscope/map/internal/spin_backoff.h"
#include "syncscope/map/lock_contention.h"

namespace syncscope::map::internal {

class SeqLock {
 public:
  bool try_lock() noexcept {
    // relaxed: only a hint for the CAS below.
    std::uint32_t v = version_.load(std::memory_order_relaxed);
    if ((v & 1) != 0) return false;
#if defined(SYNCSCOPE_TSAN)
    // seq_cst: stands in for the acquire CAS plus [S1] (see the file comment).
    return version_.compare_exchange_strong(v, v + 1, std::memory_order_seq_cst,
                                            std::memory_order_relaxed);
#else
    // acquire: the previous writer's data stores happen before ours; pairs
    // with the release store in unlock().
    if (!version_.compare_exchange_strong(v, v + 1, std::memory_order_acquire,
                                          std::memory_order_relaxed)) {
      return false;
    }
    // [S1] release fence: our data stores below cannot be seen by a reader
    // before the odd version; pairs with [S2].
    std::atomic_thread_fence(std::memory_order_release);
    return true;
#endif
  }

  void lock() {
    if (try_lock()) return;
    lock_contended([this] {
      SpinBackoff backoff;
      while (!try_lock()) backoff.pause();
    });
  }

  void unlock() noexcept {
    // relaxed load: only the holder changes the version while it is odd.
    // release store: publishes the data written under the lock to readers
    // whose read_begin() sees the new version, and to the next writer.
    version_.store(version_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }

  // Reader side. Returns the version to pass to read_valid(); an odd value
  // means a writer is inside and the copy will not validate.
  std::uint32_t read_begin() const noexcept {
    // acquire: the data of the writer that made this version are visible to
    // the loads that follow; pairs with the release store in unlock().
    return version_.load(std::memory_order_acquire);
  }

  // Whether the data loaded since read_begin() returned `v` is a consistent
  // copy: no writer was inside, and none entered since.
  bool read_valid(std::uint32_t v) const noexcept {
#if defined(SYNCSCOPE_TSAN)
    // acq_rel read-don't-modify-write: stands in for [S2] (file comment).
    return (v & 1) == 0 && version_.fetch_add(0, std::memory_order_acq_rel) == v;
#else
    // [S2] acquire fence: orders the data loads before the re-read below;
    // pairs with [S1].
    std::atomic_thread_fence(std::memory_order_acquire);
    // relaxed: ordered by the fence above.
    return (v & 1) == 0 && version_.load(std::memory_order_relaxed) == v;
#endif
  }

 private:
  // Even: free; odd: held by a writer. Bumped by one at lock and at unlock,
  // so every write section leaves a new even value behind (wraps after 2^31
  // sections: a reader would have to stall across exactly that many writes
  // to be fooled).
  // mutable: the TSan stand-in for [S2] is a read-modify-write (file comment).
  mutable std::atomic<std::uint32_t> version_{0};
};

}  // namespace syncscope::map::internal
