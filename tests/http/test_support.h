// Helpers for the http tests: temporary directories, child processes run
// with a deadline (real clients: go tool pprof, promtool, prometheus,
// chromium), free loopback ports and a started DebugServer.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "syncscope/http/debug_server.h"

namespace syncscope::http::testing {

// mkdtemp'd directory, removed recursively on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;   // -1 = killed at the deadline or could not start
  bool timed_out = false;
  std::string out;      // stdout
  std::string err;      // stderr
};

// Runs argv[0] (searched in PATH) with extra environment `env`, waits at
// most `timeout`, kills the child (by pid) if it runs longer.
CommandResult run_command(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A background child process (e.g. Prometheus), stopped by pid on destruction.
class ChildProcess {
 public:
  // Starts argv; stdout/stderr go to `log_file`. pid() == -1 on failure.
  ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& log_file,
               const std::map<std::string, std::string>& env = {});
  ~ChildProcess();  // stop()
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  pid_t pid() const { return pid_; }
  // SIGTERM, wait up to 5 s, then SIGKILL. Idempotent.
  void stop();

 private:
  pid_t pid_ = -1;
};

// A port that was free a moment ago on 127.0.0.1 (bind to 0, read, close).
int free_loopback_port();

// Starts a DebugServer on 127.0.0.1 with an ephemeral port; fails the
// current test (ASSERT) if it cannot.
std::unique_ptr<DebugServer> start_server(Options options = {});

// True when an executable is present.
bool have_program(const std::string& path);

std::string read_file(const std::filesystem::path& path);

// The build directory: $SYNCSCOPE_BINARY_DIR, else the parent of the test
// executable's bin/ directory.
std::filesystem::path binary_dir();

}  // namespace syncscope::http::testing
