#include "lab_test_util.h"

#include <sstream>

#include <gtest/gtest.h>

namespace syncscope::lab::testing {

std::string lab_binary() { return (test_support::binary_dir() / "bin" / "syncscope-lab").string(); }

CommandResult run_lab(const std::string& scenario, double seconds, const std::string& out,
                      const std::string& extra_args) {
  std::ostringstream cmd;
  cmd << shell_quote(lab_binary()) << " " << scenario << " --seconds " << seconds << " --out " << shell_quote(out)
      << " " << extra_args;
  CommandResult r = run_shell(cmd.str());
  EXPECT_EQ(r.exit_code, 0) << cmd.str() << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err;
  return r;
}

nlohmann::json read_verdict(const std::string& out, const std::string& scenario) {
  const std::string text = read_file(out + "/" + scenario + "/verdict.json");
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "verdict.json does not parse:\n" << text;
  return j;
}

}  // namespace syncscope::lab::testing
