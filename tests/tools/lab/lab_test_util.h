// Helpers for the lab's integration tests: the lab binary's path, a lab run,
// verdict.json. Commands, scratch directories and file reads come from
// tests/support/.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/scratch_dir.h"

namespace syncscope::lab::testing {

using ::syncscope::test_support::CommandResult;
using ::syncscope::test_support::have_program;
using ::syncscope::test_support::read_file;
using ::syncscope::test_support::run_shell;
using ::syncscope::test_support::ScratchDir;
using ::syncscope::test_support::shell_quote;

// bin/syncscope-lab of the build under test.
std::string lab_binary();
// Runs `lab <scenario> --seconds <s> --out <out> [extra]`; fails the test on exit code != 0.
CommandResult run_lab(const std::string& scenario, double seconds, const std::string& out,
                      const std::string& extra_args = "");
nlohmann::json read_verdict(const std::string& out, const std::string& scenario);

}  // namespace syncscope::lab::testing
