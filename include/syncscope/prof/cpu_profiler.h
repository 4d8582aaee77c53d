// CPU profile: per-thread CPU-time sampling of the whole process, in pprof
// form (Go's runtime/pprof CPU profile: sample types samples/count and
// cpu/nanoseconds, period type cpu/nanoseconds, period 1e9/hz).
//
// Contract
//   - One profile at a time per process; a second concurrent call answers
//     kBusy at once (Go: "cpu profiling already in use").
//   - Never disturbs a program that profiles itself: when SIGPROF has a
//     handler the program installed, or ITIMER_PROF is running, the call
//     answers kSignalInUse / kTimerInUse and touches neither.
//   - Works in an unmodified program under LD_PRELOAD: it needs no hook in
//     pthread_create. Threads are found in /proc/self/task when the profile
//     starts and again every kThreadRescan while it runs, so a thread created
//     during the profile is sampled from the next rescan on (up to 100 ms of
//     its CPU time can be missed).
//   - SIGPROF's handler is installed for the profile's duration only (with
//     SA_RESTART) and the disposition found is put back afterwards, unless a
//     SIGPROF of ours may still be pending in a thread that blocks it; then
//     the idle handler stays, drops that signal, and a later profile retries.
//     As with any SIGPROF profiler (Go's included), calls the kernel never
//     restarts (poll, nanosleep, ...) can return EINTR in a sampled thread.
//
// Thread safety: profile_cpu() may be called from any thread; it blocks the
// caller for the duration. Cost: per sample, one signal and a copy of the
// top of the interrupted stack (at most kCpuStackCopyBytes) in the handler;
// the unwinding runs afterwards on the calling thread.
//
// When not to use: for a single function's cost use a benchmark; this is the
// whole-process sampler a fleet scraper pulls from /debug/pprof/profile.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace syncscope::prof {

inline constexpr int kDefaultCpuProfileHz = 100;  // Go's default rate
inline constexpr int kMaxCpuProfileHz = 1000;     // above this, signal cost dominates

struct CpuProfileOptions {
  int hz = kDefaultCpuProfileHz;                 // samples per CPU-second per thread, [1, kMaxCpuProfileHz]
  std::chrono::milliseconds duration{30'000};    // wall time to sample, > 0
  std::function<bool()> cancelled;               // polled every 10..50 ms; true ends the profile early
};

enum class CpuProfileStatus {
  kOk,
  kInvalidArgument,  // hz or duration out of range
  kBusy,             // another CPU profile is running
  kSignalInUse,      // the program has its own SIGPROF handler
  kTimerInUse,       // the program runs ITIMER_PROF
  kUnavailable,      // the kernel refused a timer (resource limits)
};

struct CpuProfileResult {
  CpuProfileStatus status = CpuProfileStatus::kOk;
  std::string message;              // one-line reason when status != kOk
  std::string profile;              // gzipped profile.proto when status == kOk
  std::uint64_t samples = 0;        // signals recorded (each weighs 1 + timer overruns)
  std::uint64_t lost = 0;           // signals dropped: every sample slot was full
  std::uint64_t threads = 0;        // threads that had a timer at some point
  bool handler_restored = true;     // SIGPROF's disposition was put back
};

// Samples every thread's CPU time for options.duration (or until cancelled)
// and returns the profile. See the file comment for the refusals.
CpuProfileResult profile_cpu(const CpuProfileOptions& options);

}  // namespace syncscope::prof
