// Adapters for the fleet-scraper endpoints (issue 18): the CPU profile and
// the leaked-task profile. Like sources.h, each is compiled against its
// part(s) when present and otherwise answers 501 naming the part.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "http/canceller.h"

namespace syncscope::http::internal {

// The outcome of a CPU profile request, already mapped to HTTP: 200 with a
// gzipped profile, or the status and one-line reason to send.
struct CpuProfileOutcome {
  int status = 200;
  std::string reason;   // when status != 200
  std::string profile;  // when status == 200
};
// Samples the process for `seconds` at `hz` (both already validated); ends
// early when the server stops. Go's answers: a second concurrent profile is
// a 500 "Could not enable CPU profiling: cpu profiling already in use"; a
// program that uses SIGPROF or ITIMER_PROF itself gets a 409 with the reason
// (its handler and timer are left untouched).
CpuProfileOutcome cpu_profile(int seconds, int hz, const Canceller& canceller);

// Go 1.26's goroutineleak profile: tasks that can never be woken (retain's
// leaked-task analysis; stops the world briefly). debug=0: gzipped pprof,
// sample type goroutineleak/count, one sample per task (spawn stack, labels
// task, task_site, reason); debug=1: Go's aggregated text, headed
// "goroutineleak profile: total N".
absl::StatusOr<std::string> goroutineleak_profile(int debug);

// /debug/pprof/mutex and /debug/pprof/block (prof's contention profiles).
enum class Contention { kMutex, kBlock };
// Gzipped pprof (debug=0) or Go's debug=1 text.
absl::StatusOr<std::string> contention_profile(Contention kind, int debug);
// Delta over `seconds` (Go's ?seconds=N); cancelled when the server stops.
absl::StatusOr<std::string> contention_delta_profile(Contention kind, int seconds,
                                                     const Canceller& canceller);
// Routes the maps' contended-lock waits to the mutex profile (installed when
// the server starts; the profile records only with a fraction set).
void connect_lock_contention();

}  // namespace syncscope::http::internal
