// The signal side of the CPU profiler: SIGPROF's handler, the per-thread
// CPU-time timers that raise it, and the ring of sample slots the handler
// fills and the profiling thread drains.
//
// Contract
//   - The handler is async-signal-safe: it claims a free slot with one CAS,
//     copies registers and the top of the interrupted stack into it
//     (capture_stack_copy: no allocation, no lock, no loader call) and marks
//     it ready. With every slot taken it counts the sample as lost.
//   - Signals that are not ours (not SI_TIMER, or another timer's cookie)
//     and ours arriving after stop() are dropped.
//   - One session at a time (CpuSampler is used by profile_cpu only, which
//     serializes sessions); all calls but the handler come from the session
//     thread.
//
// Implementation notes
//   slot.state:  kFree --handler CAS--> kWriting --handler release--> kReady
//                kReady --drain (acquire), unwind, release--> kFree
//   The slot memory is mapped once and never unmapped: a handler still
//   running when a session ends writes into live memory, never a freed one.
//   A thread's CPU clock is derived from its tid as glibc's
//   pthread_getcpuclockid does (CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD_MASK in
//   the low bits, ~tid above), so timers can be armed for threads that did
//   not ask for one (an unmodified program under LD_PRELOAD).
//
// When not to use: for anything but the CPU profile; other signal users take
// a real-time signal through SignalChannel.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <time.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "prof/captured_stack.h"

namespace syncscope::prof::internal {

// Stack bytes copied per sample (~32 frames of ordinary code); deeper stacks
// are cut at the copy's end and keep their innermost frames.
inline constexpr std::size_t kCpuStackCopyBytes = 16 * 1024;
// Slots the handler can fill before the session thread drains them (every
// 10 ms under load, up to 50 ms when idle): 10 ms of 50 threads busy at
// 1000 Hz, or 50 ms of 100 threads at 100 Hz. Beyond, samples are lost
// (counted, and shown as Go's lostProfileEvent frame).
inline constexpr std::size_t kCpuSlots = 512;
// Threads that can have a timer in one session; more are not sampled.
inline constexpr std::size_t kMaxCpuTimers = 4096;

struct CpuSlot {
  static constexpr std::uint32_t kFree = 0, kWriting = 1, kReady = 2;
  // Written by the handler (CAS from kFree, release store of kReady) and the
  // drain (release store of kFree); see the state diagram above.
  std::atomic<std::uint32_t> state{kFree};
  // Written by the handler between its CAS and its kReady store; read by the
  // drain after its acquire load of kReady.
  pid_t tid = 0;
  std::uint32_t weight = 0;     // 1 + timer overruns (expirations this signal stands for)
  std::uint32_t task_label = 0;  // prof::thread_task_label(tid) when sampled; 0 = none
  StackCopy copy;
  unsigned char* stack = nullptr;  // kCpuStackCopyBytes, set once at mapping time
};

// Why start() refused.
enum class CpuStartError { kNone, kSignalInUse, kTimerInUse, kNoMemory };

class CpuSampler {
 public:
  // Checks SIGPROF's disposition and ITIMER_PROF; installs the handler.
  CpuStartError start(long period_ns) noexcept;
  // Arms a timer for every thread in /proc/self/task that has none yet.
  // Returns the number of new timers; *failed counts timer_create refusals.
  std::size_t arm_new_threads(int* failed) noexcept;
  // Stops sampling, deletes every timer and waits (bounded, 100 ms) for
  // handlers still writing. Slots may still be ready: drain them afterwards.
  void stop() noexcept;
  // Puts back the disposition found at start(), discarding any SIGPROF
  // still pending (through SIG_IGN; no wait); returns whether it did. A
  // handler the program installed meanwhile is left in place.
  bool restore() noexcept;

  // Calls f(slot) for every ready slot, then frees it.
  template <typename F>
  void drain(F&& f) noexcept(noexcept(f(std::declval<const CpuSlot&>())));

  std::uint64_t lost() const noexcept;
  std::size_t threads() const noexcept { return timer_count_; }

 private:
  struct sigaction previous_ {};  // disposition found at start()
  bool installed_ = false;
  long period_ns_ = 0;
  struct ThreadTimer {
    pid_t tid;
    timer_t id;
  };
  ThreadTimer timers_[kMaxCpuTimers];  // [0, timer_count_) armed this session
  std::size_t timer_count_ = 0;
};

CpuSlot* cpu_slots() noexcept;

template <typename F>
void CpuSampler::drain(F&& f) noexcept(noexcept(f(std::declval<const CpuSlot&>()))) {
  CpuSlot* s = cpu_slots();
  if (s == nullptr) return;
  for (std::size_t i = 0; i < kCpuSlots; ++i) {
    // acquire: the handler's writes of tid, weight, copy and stack bytes are
    // visible; pairs with [CPU-ready] in the handler.
    if (s[i].state.load(std::memory_order_acquire) != CpuSlot::kReady) continue;
    f(s[i]);
    // release: our reads of the slot happen before a handler reuses it;
    // pairs with [CPU-claim].
    s[i].state.store(CpuSlot::kFree, std::memory_order_release);
  }
}

}  // namespace syncscope::prof::internal
