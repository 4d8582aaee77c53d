// Stop-the-world for the retention scanner: pauses every other thread of the
// process in a signal handler that records the thread's registers, stack
// pointer, thread pointer and (optionally) its frames, and keeps it parked
// until resume(). Nothing here allocates through malloc.
//
// Protocol (g_gen is the stop generation, 0 = no stop in progress):
//
//   scanner                                   paused thread (signal handler)
//   slot.tid, slot.gen = G; state=kRequested
//   g_gen = G; tgkill(tid)  ----------------> CAS state kRequested->kCapturing
//                                             capture registers, sp, tp, frames
//   poll until kPaused/gone/timeout  <------- state = kPaused
//   ... scan ...                              futex_wait(g_gen) while g_gen == G
//   g_gen = 0; futex_wake(g_gen) -----------> state = kDone; return
//   wait (bounded) for kDone
//
// A thread that does not answer before the deadline is abandoned: its slot is
// CASed kRequested->kAbandoned, so a late handler finds nothing to do and
// returns; its stack is not scanned (reported in stats). Threads that exit
// before they are signalled (tgkill -> ESRCH) are skipped. Threads created
// while stopping are picked up by re-reading /proc/self/task until no new
// thread appears (a paused thread cannot create one).
//
// Slots live in one mmap'ed region that is never unmapped, so a handler that
// runs late can never touch freed memory.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

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
};

struct StopResult {
  ThreadSlot* slots = nullptr;  // [count]; use those with state kPaused
  std::size_t count = 0;
  std::size_t paused = 0;
  std::size_t abandoned = 0;
  bool out_of_slots = false;    // more threads than slots: the rest run on
};

class WorldStopper {
 public:
  // PRECONDITION: callers are serialized (one stop at a time per process).
  // Installs the handler for `signal` on first use. Never allocates.
  static StopResult stop(int signal, std::chrono::milliseconds timeout, bool unwind) noexcept;
  // Releases every parked thread and waits (bounded) until they left the handler.
  static void resume(const StopResult& stopped) noexcept;
  // Names of registers for reports ("rax", ...); "reg<i>" past the table.
  static const char* register_name(int index) noexcept;
  // The slot region (scanned as register roots, excluded otherwise).
  static std::uintptr_t slots_begin() noexcept;
  static std::size_t slots_bytes() noexcept;
};

// Frames of the calling thread from here upwards (for the scanning thread's
// own stack roots); returns the number written.
int capture_own_frames(std::uintptr_t* pc, std::uintptr_t* sp, int max) noexcept;

}  // namespace syncscope::retain::internal
