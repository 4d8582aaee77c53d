// All-thread stack dump of the whole process, including threads syncscope did
// not create (the runtime's, libraries', plain std::threads).
//
// How: enumerate /proc/self/task, send each thread a real-time signal with
// rt_tgsigqueueinfo; its async-signal-safe handler copies the interrupted
// registers and the top of the stack into a slot preallocated by the dumper
// and publishes it; the dumper unwinds the copies afterwards (the handler
// never calls into the dynamic loader, so a thread holding the loader lock
// stops nobody). The dumper waits at most `timeout` overall. Threads that
// exit meanwhile are reported as kExited; threads that block the signal
// (read from /proc before signalling: they are never signalled, so no signal
// queues up on them) as kSignalBlocked; threads that do not answer in time
// as kTimedOut; a send refused because the per-user pending-signal limit is
// reached as kQueueFull. The calling thread captures itself directly.
//
// Signals (the host program must not notice the dump): the signal is
// borrowed for the dump only. thread_dump_signal() is used when the program
// neither handles nor blocks it, else another real-time signal the program
// does not use; the program's disposition is restored when the dump ends
// (kept until no signal of ours is pending, if a thread did not answer). The
// handler is installed with SA_RESTART, so interrupted read/write/wait-style
// calls restart; calls the kernel never restarts after a handler (poll,
// select, epoll_wait, nanosleep, clock_nanosleep, sigtimedwait, and socket
// calls with SO_RCVTIMEO/SO_SNDTIMEO) return EINTR in each thread the dump
// signals, as with any profiler signal. The dumping thread and threads that
// block the signal are not signalled.
//
// Dumps are serialized (one at a time per process). The retention scanner's
// stop-the-world borrows its own signal; the two never share one.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "syncscope/task/task_core.h"

namespace syncscope::task {

inline constexpr int kThreadDumpSignalOffset = 5;
// The dump's preferred signal, SIGRTMIN + kThreadDumpSignalOffset (see above).
int thread_dump_signal() noexcept;

enum class CaptureStatus : std::uint8_t {
  kOk,             // pcs hold the thread's stack
  kExited,         // the thread was gone before it could answer
  kTimedOut,       // it did not answer within the timeout
  kSignalBlocked,  // it blocks the dump signal (per /proc status SigBlk)
  kError,          // signalling failed for another reason
  kQueueFull,      // signalling failed: the per-user pending-signal limit (EAGAIN)
};
const char* to_string(CaptureStatus status) noexcept;

struct ThreadStack {
  pid_t tid = 0;
  std::string name;                 // /proc/self/task/<tid>/comm
  CaptureStatus status = CaptureStatus::kError;
  std::vector<std::uintptr_t> pcs;  // innermost first; pcs[0] is the interrupted pc
  bool is_caller = false;           // the thread that took the dump
  // The tracked task running on this thread when the dump was taken (id 0 = none).
  TaskId task = 0;
  std::string task_name;
  std::string blocking_reason;
};

struct ThreadDumpOptions {
  std::chrono::milliseconds timeout{2000};  // overall bound on waiting for answers
};

// Dumps every thread of the process, ordered by tid. Not async-signal-safe;
// call from a normal thread. Never hangs longer than about `timeout`.
std::vector<ThreadStack> dump_all_threads(const ThreadDumpOptions& options = {});

// Human-readable, symbolized dump: one block per thread, e.g.
//   thread 1234 "worker-2" [ok] task 17 "fetch user" (blocked: reply from db):
//     #0 0x55d0c3a1f2 syncscope::foo() /src/foo.cc:42
std::string format_thread_dump(const std::vector<ThreadStack>& threads);

}  // namespace syncscope::task
