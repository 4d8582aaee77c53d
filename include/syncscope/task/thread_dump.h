// All-thread stack dump of the whole process, including threads syncscope did
// not create (the runtime's, libraries', plain std::threads).
//
// How: enumerate /proc/self/task, send each thread a dedicated real-time
// signal (thread_dump_signal()) with tgkill; its async-signal-safe handler
// captures the interrupted stack with prof::capture_stack_from_context into
// a slot preallocated by the dumper, then publishes it. The dumper waits at
// most `timeout` overall. Threads that exit meanwhile are reported as
// kExited; threads that block the signal or do not answer in time as
// kSignalBlocked / kTimedOut. The calling thread captures itself directly.
//
// Dumps are serialized (one at a time per process). The signal handler is
// installed on first use and stays installed; a dump never interrupts a
// thread's system call for good (SA_RESTART), but a thread inside a
// non-restartable call (e.g. poll with timeout) may see EINTR, as with any
// profiler signal.
//
// The retention scanner's stop-the-world uses its own signal; the two must
// differ: this one is SIGRTMIN + kThreadDumpSignalOffset.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "syncscope/task/task_core.h"

namespace syncscope::task {

inline constexpr int kThreadDumpSignalOffset = 5;
int thread_dump_signal() noexcept;  // SIGRTMIN + kThreadDumpSignalOffset

enum class CaptureStatus : std::uint8_t {
  kOk,             // pcs hold the thread's stack
  kExited,         // the thread was gone before it could answer
  kTimedOut,       // it did not answer within the timeout
  kSignalBlocked,  // it blocks the dump signal (per /proc status SigBlk)
  kError,          // signalling failed for another reason
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
