// Runs the Go side of the comparison (tools/mapbench/go) and turns its
// `go test -bench` output into Records.
//
// Two ways to run it: `go test` in the harness directory (GOPATH and GOCACHE in
// a fresh temporary directory, GOFLAGS unset, GOPROXY=off: the module has no
// dependencies and never touches the network), or a prebuilt test binary
// (`go test -c`, shipped in the bundle for machines without Go). If neither is
// available the Go systems are skipped with a warning.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "record.h"

namespace syncscope::mapbench {


struct GoRunConfig {
  std::vector<std::string> workloads;  // Go names
  std::vector<std::string> systems;    // subset of system_names::kGo
  std::vector<int> threads;            // -cpu list
  double benchtime_s = 0.1;            // -benchtime per benchmark
  std::string go_dir;                  // harness sources (go test), may be empty
  std::string go_bin;                  // prebuilt test binary to use instead of go (explicit)
  std::string bundled_bin;             // prebuilt test binary used only when go is missing
  bool progress = true;                // echo result lines to stderr
};

struct GoRunOutcome {
  bool ran = false;             // false: Go was unavailable or failed; see message
  std::string message;          // warning for the user when !ran or on partial failure
  std::vector<Record> records;  // one per (workload, system, threads): measured or n/a
};

// Runs the harness and returns one record per requested cell; cells the
// harness skipped or did not report become n/a records carrying the reason.
GoRunOutcome run_go_harness(const GoRunConfig& config);

// Parses `go test -bench -benchmem [-v]` output. Result lines become measured
// records; "--- SKIP" lines become n/a records with the skip message as note.
// Exposed for tests.
std::vector<Record> parse_go_bench_output(std::string_view output);

// The -bench pattern selecting exactly these workloads and systems.
std::string go_bench_pattern(const std::vector<std::string>& workloads,
                             const std::vector<std::string>& systems);

}  // namespace syncscope::mapbench
