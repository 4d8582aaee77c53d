// An unmodified C program, compiled by the test, running under
// LD_PRELOAD=libsyncscope_preload.so with SYNCSCOPE_HTTP on a free loopback
// port: the preload's debug server inside a process that never linked us.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "support/child_process.h"
#include "support/scratch_dir.h"

namespace syncscope::http::testing {

// bin/../lib/libsyncscope_preload.so of the build under test.
std::string preload_object();

class PreloadedProgram {
 public:
  // Writes `c_source` to dir/<name>.c, compiles it (cc -O1 -g, plus
  // `cc_flags`), starts it with the preload, SYNCSCOPE_HTTP and
  // SYNCSCOPE_PROFILE_RATE=4096, and waits up to 10 s for /debug/pprof/ to
  // answer. ready() says whether all of that worked; error() says what did not.
  PreloadedProgram(const test_support::ScratchDir& dir, const std::string& name, const std::string& c_source,
                   const std::vector<std::string>& cc_flags = {});

  bool ready() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  // The program's stdout and stderr so far.
  std::string log() const;

 private:
  std::string log_path_;
  int port_ = 0;
  std::unique_ptr<test_support::ChildProcess> process_;
  std::string error_;
};

}  // namespace syncscope::http::testing
