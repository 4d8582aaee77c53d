// Command line of syncscope-lab (DESIGN §6):
//   syncscope-lab <scenario|all|compare> [--out DIR] [--seconds N] [--serve] [--port N] [--exact]
// Parsing is separate from running so that tests can check every rejection.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace syncscope::lab {

struct CliOptions {
  std::string what;                 // scenario name, "all" or "compare"
  std::string out = "lab-out";
  double seconds = 6;               // per scenario
  bool serve = false;
  bool exact = false;               // exact live-block table instead of the heap walk
  int port = 6060;
};

struct ParseOutcome {
  std::optional<CliOptions> options;  // set when the run should proceed
  int exit_code = 0;                  // when !options: 0 for --help, 2 for bad input
  std::string message;                // stdout for --help, stderr otherwise
};

ParseOutcome parse_command_line(int argc, char** argv);

// Every accepted first argument, in order.
std::vector<std::string> accepted_targets();

}  // namespace syncscope::lab
