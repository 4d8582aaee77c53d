// Helpers for the lab's integration tests: run a command, temporary folders,
// the lab binary's path, verdict.json.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "prof/pprof_tool.h"  // ScratchDir, read_file: the tests' shared helpers

namespace syncscope::lab::testing {

struct Result {
  int rc = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `command` through /bin/sh with stdout and stderr captured.
Result run(const std::string& command);

// A fresh folder under TMPDIR, removed by the destructor.
using TempDir = syncscope::prof::test_util::ScratchDir;
using syncscope::prof::test_util::read_file;

// build/bin/syncscope-lab of the build under test.
std::string lab_binary();
// Runs `lab <scenario> --seconds <s> --out <out> [extra]`; fails the test on rc != 0.
Result run_lab(const std::string& scenario, double seconds, const std::string& out,
               const std::string& extra_args = "");
nlohmann::json read_verdict(const std::string& out, const std::string& scenario);
bool have_program(const std::string& name);
// Shell-quotes `s` with single quotes.
std::string quote(const std::string& s);

}  // namespace syncscope::lab::testing
