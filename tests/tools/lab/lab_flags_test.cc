// Bad flags: a clear message, a non-zero exit, and nothing half-written.
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "lab_test_util.h"

namespace syncscope::lab::testing {
namespace {
namespace fs = std::filesystem;

CommandResult lab(const std::string& args) { return run_shell(shell_quote(lab_binary()) + " " + args); }

bool empty_dir(const std::string& p) { return fs::is_empty(p); }

TEST(LabFlags, UnknownScenarioIsRejected) {
  ScratchDir out;
  const CommandResult r = lab("range-spwan --out " + shell_quote(out.path()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("range-spwan"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("range-spawn"), std::string::npos) << "should list the valid names:\n" << r.err;
  EXPECT_TRUE(empty_dir(out.path()));
}

TEST(LabFlags, MissingScenarioIsRejected) {
  const CommandResult r = lab("");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(r.err.empty());
}

TEST(LabFlags, NegativeOrZeroDurationIsRejected) {
  ScratchDir out;
  for (const char* s : {"-1", "0", "abc", "601"}) {
    const CommandResult r = lab(std::string("range-spawn --seconds ") + s + " --out " + shell_quote(out.path()));
    EXPECT_NE(r.exit_code, 0) << s;
    EXPECT_NE(r.err.find("seconds"), std::string::npos) << s << ": " << r.err;
  }
  EXPECT_TRUE(empty_dir(out.path()));
}

TEST(LabFlags, UnwritableOutputFolderIsRejected) {
  const CommandResult r = lab("range-spawn --seconds 1 --out /proc/syncscope-lab-out");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("/proc/syncscope-lab-out"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists("/proc/syncscope-lab-out"));

  ScratchDir dir;
  const std::string file = dir.file("a-file");
  { std::ofstream(file) << "x"; }
  const CommandResult f = lab("range-spawn --seconds 1 --out " + shell_quote(file));
  EXPECT_NE(f.exit_code, 0);
  EXPECT_NE(f.err.find("not a directory"), std::string::npos) << f.err;
}

TEST(LabFlags, UnknownOptionIsRejected) {
  const CommandResult r = lab("range-spawn --bogus");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("bogus"), std::string::npos) << r.err;
}

TEST(LabFlags, HelpListsTheScenarios) {
  const CommandResult r = lab("--help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* s : {"range-spawn", "three-level", "stalled-reader", "fix-copy", "fix-load", "fix-pool",
                        "all", "compare", "--serve", "--port"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
  }
}

}  // namespace
}  // namespace syncscope::lab::testing
