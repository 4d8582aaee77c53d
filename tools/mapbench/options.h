// Command line of syncscope-mapbench (DESIGN §6):
//   syncscope-mapbench [--quick] [--workloads A,B] [--systems X,Y] [--threads 1,2,...]
//                      [--json FILE] [--markdown FILE] [--svg FILE] [--csv FILE]
//                      [--duration D] [--go | --no-go] [--go-bin FILE] [--go-dir DIR] [--list]
// Parsing is separate from running so that tests can check every rejection.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace syncscope::mapbench {

struct Options {
  bool quick = false;
  bool list = false;                       // print workloads and systems, then exit
  std::vector<std::string> workloads;      // validated names, in canonical order
  std::vector<std::string> systems;        // validated names, in canonical order
  std::vector<int> threads;                // each >= 1, ascending, unique
  std::chrono::nanoseconds duration{0};    // per (workload, system, threads) run
  std::string json, markdown, svg, csv;    // output files ("" = not written)
  bool go = true;                          // run the Go harness
  std::string go_bin;                      // prebuilt Go harness binary
  std::string go_dir;                      // Go harness sources
  std::string command_line;                // as typed, for the reports
};

struct ParseOutcome {
  std::optional<Options> options;  // set when the run should proceed
  int exit_code = 0;               // when !options: 0 for --help, non-zero for bad input
  std::string message;             // what to print (stderr when exit_code != 0)
};

// Known names: every workload and system this binary could run. Systems known
// by name but not built into this binary are rejected with that reason.
struct Catalog {
  std::vector<std::string> workloads;
  std::vector<std::string> systems;        // all names, canonical order
  std::vector<std::string> built_systems;  // those this binary can run
  int cpus = 1;
  std::string default_go_dir;
};

ParseOutcome parse_options(int argc, const char* const* argv, const Catalog& catalog);

// "250ms", "2s", "500us", "0.5" (seconds). Negative or malformed: nullopt.
std::optional<std::chrono::nanoseconds> parse_duration(std::string_view spec);

}  // namespace syncscope::mapbench
