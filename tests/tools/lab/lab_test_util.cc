#include "lab_test_util.h"

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include <gtest/gtest.h>

namespace syncscope::lab::testing {
namespace fs = std::filesystem;

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out.push_back(c);
    }
  }
  return out + "'";
}

Result run(const std::string& command) {
  TempDir io;
  const std::string out = io.path() + "/out", err = io.path() + "/err";
  const int status = std::system((command + " >" + quote(out) + " 2>" + quote(err)).c_str());
  Result r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

std::string lab_binary() {
  const char* dir = std::getenv("SYNCSCOPE_BINARY_DIR");
  if (dir != nullptr && *dir != '\0') return std::string(dir) + "/bin/syncscope-lab";
  // The test executable and the lab share build*/bin.
  std::error_code ec;
  return (fs::read_symlink("/proc/self/exe", ec).parent_path() / "syncscope-lab").string();
}

Result run_lab(const std::string& scenario, double seconds, const std::string& out, const std::string& extra_args) {
  std::ostringstream cmd;
  cmd << quote(lab_binary()) << " " << scenario << " --seconds " << seconds << " --out " << quote(out) << " "
      << extra_args;
  Result r = run(cmd.str());
  EXPECT_EQ(r.rc, 0) << cmd.str() << "\nstdout:\n" << r.out << "\nstderr:\n" << r.err;
  return r;
}

nlohmann::json read_verdict(const std::string& out, const std::string& scenario) {
  const std::string text = read_file(out + "/" + scenario + "/verdict.json");
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "verdict.json does not parse:\n" << text;
  return j;
}

bool have_program(const std::string& name) {
  return run("command -v " + quote(name)).rc == 0;
}

}  // namespace syncscope::lab::testing
