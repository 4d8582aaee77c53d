// A real-time signal that syncscope borrows from the host program for one
// operation (a stop of the world, a thread dump) and gives back afterwards.
//
// Contract (issue 14 item 2: the program must not notice us)
//   - open() takes a real-time signal the program does not use: default
//     disposition and not blocked by the calling thread (a program that reads
//     a signal through signalfd/sigwait blocks it, usually in every thread),
//     trying `preferred` first. Only an explicitly requested signal, or a
//     process that uses every real-time signal, makes us share one: the
//     program's handler found there keeps receiving the program's signals
//     (forwarded from ours), and a default disposition is honoured by
//     re-raising with it.
//   - Our signals are sent with rt_tgsigqueueinfo and carry a cookie
//     (SI_QUEUE from our own pid, si_value = the channel), so a signal of the
//     program on the same number is never taken for ours, and ours never
//     reaches the program's handler.
//   - close() restores the disposition found at open() unless a signal of
//     ours may still be pending in some thread (it blocked the signal after
//     we looked, or never ran): restoring then would hand that signal to the
//     program's disposition (for SIG_DFL: killing the process). The handler
//     then stays installed, idle, and a later close() retries.
//   - SA_RESTART is set: read/write/wait-style calls interrupted by our
//     signal restart. Calls the kernel never restarts after a handler
//     (poll, select, epoll_wait, nanosleep, clock_nanosleep, sigtimedwait,
//     and calls with a timeout set by setsockopt) return EINTR in a thread we
//     signal; see docs/task.md. Callers signal as few threads as they can.
//
// Thread safety: one operation per channel at a time (callers serialize);
// distinct channels may open concurrently and never share a signal (each
// takes its signal with a CAS; open() refuses a requested signal another
// channel holds). The handler side is async-signal-safe.
//
// When not to use: for signals the program itself is meant to handle.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>

namespace syncscope::prof::internal {

// Signal masks of one thread of this process, from /proc/self/task/TID/status.
struct ThreadSignalState {
  bool known = false;    // the file was read (false: the thread is gone)
  bool blocked = false;  // SigBlk has the signal
  bool pending = false;  // SigPnd (thread-directed) has the signal
};
// Raw syscalls only, no malloc: usable while other threads are paused.
ThreadSignalState read_thread_signal_state(pid_t tid, int signal) noexcept;

// Calls f(tid) for every thread of the process (/proc/self/task), without
// malloc. Returns false when the directory cannot be read.
bool for_each_thread(void (*f)(pid_t tid, void* arg), void* arg) noexcept;

class SignalChannel {
 public:
  // Called in the signal handler for signals this channel sent.
  using Receiver = void (*)(siginfo_t* info, void* context);

  // block_all_in_handler: the handler runs with every signal blocked (a
  // parked stop handler must not be interrupted).
  constexpr SignalChannel(Receiver receiver, bool block_all_in_handler) noexcept
      : receiver_(receiver), block_all_(block_all_in_handler) {}

  // Installs the handler: on `requested` when non-zero, else on an unused
  // real-time signal (see the file comment). Returns the signal, or 0 when
  // none could be installed.
  int open(int requested, int preferred) noexcept;
  // Sends this channel's signal to thread `tid`: 0, or the errno of
  // rt_tgsigqueueinfo (ESRCH: gone; EAGAIN: the pending-signal limit).
  int send(pid_t tid) noexcept;
  // Records that a signal sent in this operation may not have been received.
  void note_unanswered() noexcept { unanswered_ = true; }
  // Ends the operation; restores the program's disposition when no signal
  // of ours can still be pending. Returns true when it was restored.
  bool close() noexcept;

  int signal() const noexcept { return signal_; }
  bool installed() const noexcept { return installed_; }
  // True when the signal is shared with a handler of the program.
  bool shared() const noexcept { return shared_; }

 private:
  friend void signal_channel_trampoline(int, siginfo_t*, void*);
  bool is_ours(const siginfo_t* info) const noexcept;
  void forward(int signal, siginfo_t* info, void* context) const noexcept;
  bool any_thread_pending() const noexcept;

  Receiver receiver_;
  bool block_all_;
  // Written by open()/close() (callers serialized), read by the handler
  // after the acquire load of its channel in the per-signal table.
  int signal_ = 0;
  struct sigaction previous_ {};  // disposition found at open()
  bool installed_ = false;        // our handler is on signal_
  bool shared_ = false;           // previous_ is a program handler
  bool unanswered_ = false;       // this operation may have left one pending
};

}  // namespace syncscope::prof::internal
