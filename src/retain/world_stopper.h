// Stop-the-world for the retention scanner: pauses every other thread of the
// process in a signal handler that records the thread's registers, stack
// pointer, thread pointer and a bounded copy of the top of its stack, and
// keeps it parked until resume(). Nothing here allocates through malloc
// while threads are paused (the first resume() sets up the unwinder once,
// after releasing them), and the handler never calls into the dynamic
// loader: frames are unwound from the copies in resume(), once the threads
// run again, so a thread paused while it holds the loader lock blocks nobody
// (issue 13 item 5).
//
// Protocol (g_gen is the stop generation, 0 = no stop in progress; a stop
// uses the slots [base, base + count) of one never-unmapped region):
//
//   scanner                                   paused thread (signal handler)
//   read SigBlk/SigPnd of the thread
//     blocks the signal -> kBlocked (re-checked until the deadline)
//   slot.tid, slot.gen = G; state=kRequested
//   g_gen = G; send (rt_tgsigqueueinfo) ----> CAS state kRequested->kCapturing
//     EAGAIN/other -> kSignalFailed            verify tid/gen (else give back)
//     ESRCH -> kGone                           capture registers, stack copy
//   poll until kPaused/gone/timeout  <------- state = kPaused
//   ... scan ...                              futex_wait(g_gen) while g_gen == G
//   g_gen = 0; futex_wake(g_gen) -----------> state = kDone; return
//   unwind the copies (frame_pc/frame_sp; nothing allocated)
//   wait (bounded) for kDone
//
// A thread that does not answer before the deadline is abandoned: its slot is
// CASed kRequested->kAbandoned, so a late handler finds nothing to do and
// returns; its stack is not scanned. A handler that claimed its slot but did
// not publish kPaused in time (kCapturing), or stayed parked past resume()'s
// bounded wait (kPaused), is a straggler: it still owns its slot, so the
// next stop places its range after (or around) every straggler, and a slot
// left kPaused by an earlier stop is never inside a later stop's range
// (issue 13 item 7). Threads that block the stop signal are not signalled
// (a real-time signal would queue up on them until the per-user limit makes
// every send fail with EAGAIN: issue 13 item 6); they, threads whose send
// failed, and threads that did not answer are counted in `abandoned` with
// their reason. Threads created while stopping are picked up by re-reading
// /proc/self/task until no new thread appears (a paused thread cannot create
// one).
//
// The signal is borrowed per stop (prof::internal::SignalChannel): an unused
// real-time signal (the default SIGRTMAX-3 if free), the program's own
// disposition restored by resume() (issue 14 item 2).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "prof/captured_stack.h"

namespace syncscope::retain::internal {

inline constexpr int kMaxCapturedRegs = 32;
inline constexpr int kMaxCapturedFrames = 48;

enum SlotState : std::uint32_t {
  kFree = 0,
  kRequested,   // signal sent, handler not yet running
  kCapturing,   // handler is recording the registers
  kPaused,      // parked; registers and stack are stable
  kDone,        // handler returned after resume
  kAbandoned,   // did not answer in time; not scanned
  kGone,        // exited before it could be signalled
  kBlocked,     // blocks the stop signal: not signalled, not scanned
  kSignalFailed,  // sending failed (error says why; EAGAIN: queue limit)
};

struct ThreadSlot {
  std::atomic<std::uint32_t> state{kFree};
  std::uint32_t gen = 0;     // stop generation this slot belongs to
  pid_t tid = 0;
  // Valid when state == kPaused (written by the handler before its release
  // store of kPaused; read by the scanner after an acquire load).
  std::uintptr_t sp = 0;
  std::uintptr_t tp = 0;     // thread pointer (TLS base)
  int reg_count = 0;
  std::uintptr_t regs[kMaxCapturedRegs];
  int frame_count = 0;       // frames[0] is the interrupted frame
  std::uintptr_t frame_pc[kMaxCapturedFrames];
  std::uintptr_t frame_sp[kMaxCapturedFrames];
  // kSignalFailed: the errno of the send.
  int error = 0;
  // Written by the handler with the registers (published by kPaused):
  // registers in the unwinder's numbering and the bounds of the stack copy.
  std::uint32_t captured_gen = 0;
  prof::internal::StackCopy unwind;
  // kStackCopyBytes owned by the stopper; null when it could not be mapped
  // or frames were not asked for.
  unsigned char* stack_copy = nullptr;
};

struct StopResult {
  // [count]; use those with state kPaused. None of them is a straggler of an
  // earlier stop: a slot in kPaused here was paused by this stop.
  ThreadSlot* slots = nullptr;
  std::size_t count = 0;
  std::uint32_t gen = 0;        // this stop's generation (slot.gen)
  int signal = 0;               // the signal used (0: none could be installed)
  std::size_t paused = 0;
  // Threads not scanned: timed_out + blocked + signal_failed.
  std::size_t abandoned = 0;
  std::size_t timed_out = 0;      // signalled, did not pause before the deadline
  std::size_t blocked = 0;        // block the stop signal (never signalled)
  std::size_t signal_failed = 0;  // the send failed ...
  std::size_t queue_full = 0;     // ... of which with EAGAIN (pending-signal limit)
  std::size_t gone = 0;           // exited before they could be signalled
  bool out_of_slots = false;    // more threads than slots: the rest run on
};

class WorldStopper {
 public:
  // PRECONDITION: callers are serialized (one stop at a time per process).
  // `signal`: 0 or default_signal() = an unused real-time signal, default_signal()
  // when free; any other = that signal, shared with a program handler found
  // there. `unwind`: copy stacks for unwind_frames(). Never allocates.
  static StopResult stop(int signal, std::chrono::milliseconds timeout, bool unwind) noexcept;
  // Releases every parked thread, fills frame_pc/frame_sp/frame_count of
  // every slot paused by `stopped` from its stack copy (unwind_frames; the
  // frames stay valid until the next stop()), waits (bounded) until the
  // threads left the handler, and gives the signal back to the program.
  // Allocates only on its first call (the unwinder), after the threads run.
  static void resume(const StopResult& stopped) noexcept;
  // The unwinding part of resume(); a second call changes nothing.
  static void unwind_frames(const StopResult& stopped) noexcept;
  static int default_signal() noexcept;  // SIGRTMAX - 3
  // Names of registers for reports ("rax", ...); "reg<i>" past the table.
  static const char* register_name(int index) noexcept;
  // The slot region, stack copies included (registers are scanned as roots
  // from it; exclude it from everything else).
  static std::uintptr_t slots_begin() noexcept;
  static std::size_t slots_bytes() noexcept;
};

// Frames of the calling thread from here upwards (for the scanning thread's
// own stack roots); returns the number written. Does not take the loader
// lock. Not for signal handlers.
int capture_own_frames(std::uintptr_t* pc, std::uintptr_t* sp, int max) noexcept;

}  // namespace syncscope::retain::internal
