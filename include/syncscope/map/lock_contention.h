// The maps' locks, timed when contended: a process-wide hook through which a
// map reports how long a thread waited for one of its locks (shard/table
// locks, the dirty-map mutex) to whoever listens. The debug server installs
// prof's contention recorder here (/debug/pprof/mutex). `map` depends on
// nothing above it (DESIGN §1), so the listener is a plain function pointer,
// as in map_events.h.
//
// Contract
//   - Uncontended acquisitions cost what the plain mutex costs (one
//     try_lock). Only an acquisition whose try_lock failed takes the slow
//     path, and only with a listener installed does it read the clock
//     twice and call the listener, on the waiting thread, with the lock
//     now held: the listener must be quick, must not take this map's lock
//     and must not throw.
//   - TimedMutex is drop-in for std::mutex with std::lock_guard and
//     std::unique_lock. The maps' other locks (FutexRwLock of the lock-based
//     maps, FlatGroupMap's SeqLock and RwSpinLock) call lock_contended()
//     from their own slow paths.
//
// When not to use: for locks outside the maps; the task API's waits report
// to prof directly.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace syncscope::map {

// wait_ns: how long the calling thread waited for the lock it now holds.
using LockContentionListener = void (*)(std::int64_t wait_ns) noexcept;

namespace internal {
inline std::atomic<LockContentionListener> g_contention_listener{nullptr};

// The slow path, out of the lock() fast path: times `acquire`.
template <class Acquire>
__attribute__((noinline)) void lock_contended(Acquire&& acquire) {
  // acquire: pairs with the exchange in set_lock_contention_listener.
  const LockContentionListener l = g_contention_listener.load(std::memory_order_acquire);
  if (l == nullptr) return acquire();
  const auto start = std::chrono::steady_clock::now();
  acquire();
  l(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
        .count());
}

// std::mutex whose contended lock() is timed.
class TimedMutex {
 public:
  void lock() {
    if (!mu_.try_lock()) lock_contended([this] { mu_.lock(); });
  }
  bool try_lock() { return mu_.try_lock(); }
  void unlock() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

}  // namespace internal

// Installs (or, with nullptr, removes) the listener. Returns the previous one.
inline LockContentionListener set_lock_contention_listener(LockContentionListener l) noexcept {
  // acq_rel: the listener's state published before installing it is visible
  // to the threads that load it with acquire in lock_contended.
  return internal::g_contention_listener.exchange(l, std::memory_order_acq_rel);
}

}  // namespace syncscope::map
