// Helpers for the lab's integration tests: run a command, temporary folders,
// the lab binary's path, verdict.json.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace syncscope::lab::testing {

struct Result {
  int rc = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs `command` through /bin/sh with stdout and stderr captured.
Result run(const std::string& command);

// A fresh folder under TMPDIR (or /tmp), removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// build/bin/syncscope-lab of the build under test.
std::string lab_binary();
// Runs `lab <scenario> --seconds <s> --out <out>`; fails the test on rc != 0.
Result run_lab(const std::string& scenario, double seconds, const std::string& out);
std::string read_file(const std::string& path);
nlohmann::json read_verdict(const std::string& out, const std::string& scenario);
bool have_program(const std::string& name);
// Shell-quotes `s` with single quotes.
std::string quote(const std::string& s);

}  // namespace syncscope::lab::testing
