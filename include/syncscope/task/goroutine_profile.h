// The goroutine profile, for C++: every live tracked task and (optionally)
// every OS thread, in the three forms Go's /debug/pprof/goroutine serves.
//
// debug=1 (aggregated text, Go's format): one record per distinct
// (stack, labels), sorted by count:
//   goroutine profile: total 7
//   3 @ 0x55d0c3a1f2 0x55d0c3a4b0 0x7f01c2a3
//   # labels: {"kind":"task", "name":"fetch user", "state":"blocked", "reason":"reply from db", "site":"svc.cc:42 ..."}
//   #	0x55d0c3a1f2	svc::fetch()+0x0	/src/svc.cc:42
// Tasks are keyed by their spawn stack (where they were created); threads by
// their current stack.
//
// debug=2 (one block per task and per thread, Go's layout):
//   task 17 "fetch user" [blocked: reply from db, 3 minutes] on thread 1234 (rpc-1):
//   <current stack of thread 1234, when the task is on a thread>
//   created by svc.cc:42 svc::start()
//   <spawn stack>
//
//   thread 1234 "rpc-1" [ok]:
//   <stack>
//
// debug=0: pprof protobuf, gzipped, sample type goroutine/count, one sample
// per task (spawn stack, labels task/state/reason/site) and per thread
// (current stack, labels thread/tid). `go tool pprof -top` reads it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "syncscope/task/task_core.h"

namespace syncscope::task {

struct GoroutineProfileOptions {
  bool include_threads = true;  // add an all-thread dump (signals every thread)
  std::chrono::milliseconds thread_dump_timeout{1000};
  // Only tasks older than this (zero = all live tasks), as Go's resident view.
  Clock::duration min_age = Clock::duration::zero();
  // When set, only these tasks (still live) are listed: Go 1.26's
  // goroutineleak profile is the goroutine profile of the leaked ones.
  std::optional<std::vector<TaskId>> only_tasks;
  // The profile's name: the debug=1 header "<name> profile: total N" and the
  // pprof sample and period type <name>/count.
  std::string profile_name = "goroutine";
};

// debug must be 1 or 2; anything else is an InvalidArgument error (HTTP: 400).
absl::StatusOr<std::string> goroutine_profile_text(int debug, const GoroutineProfileOptions& options = {});
// Gzipped profile.proto (debug=0).
std::string goroutine_profile_proto(const GoroutineProfileOptions& options = {});
// Writes goroutine_profile_proto() to path (prof::write_file_atomically).
absl::Status write_goroutine_profile(const std::string& path, const GoroutineProfileOptions& options = {});

// Short plain-text report of resident tasks grouped by spawn site:
//   3 tasks at svc.cc:42 svc::start(), oldest 312.4 s, blocked: reply from db (3)
std::string resident_report_text(Clock::duration older_than);

}  // namespace syncscope::task
