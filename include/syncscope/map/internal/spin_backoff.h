// Backoff for the spin locks of FlatGroupMap (seq_lock.h, rw_spin_lock.h):
// a few pause instructions, then yield the CPU. Their critical sections are
// a handful of loads and stores, so a short spin usually wins; on a loaded
// machine the holder may be preempted, and yielding lets it run instead of
// burning its time slice.
#pragma once

#include <atomic>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace syncscope::map::internal {

class SpinBackoff {
 public:
  void pause() noexcept {
    if (spins_ < kSpinsBeforeYield) {
      ++spins_;
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }

  // One pause of a spin-wait loop (x86 PAUSE), shared with FutexRwLock.
  static void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#else
    std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
  }

 private:
  // About a microsecond of pauses: longer than a group's critical section,
  // far shorter than a scheduler quantum.
  static constexpr int kSpinsBeforeYield = 16;

  int spins_ = 0;
};

}  // namespace syncscope::map::internal
