// Test helpers for other programs (real clients: go tool pprof, promtool,
// prometheus, chromium, a C compiler): run one to completion with a
// deadline, or keep one running in the background; free loopback ports.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace syncscope::test_support {

struct CommandResult {
  int exit_code = -1;  // -1 = killed by a signal or at the deadline, or could not start
  bool timed_out = false;
  std::string out;     // stdout
  std::string err;     // stderr
};

// Runs argv[0] (searched in PATH) with extra environment `env`, waits at
// most `timeout`, kills the child (by pid) if it runs longer.
CommandResult run_command(const std::vector<std::string>& argv,
                          const std::map<std::string, std::string>& env = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Runs `command` through /bin/sh -c, as run_command does.
CommandResult run_shell(const std::string& command,
                        std::chrono::milliseconds timeout = std::chrono::seconds(120));

// Runs `command` through /bin/sh -c; returns stdout and stderr together and
// sets *exit_code (0 = success).
std::string run_shell(const std::string& command, int* exit_code);

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

// True when `program` can be run: a path (with a '/') that is executable,
// or a name found in PATH.
bool have_program(const std::string& program);

// A port that was free a moment ago on 127.0.0.1 (bind to 0, read, close).
int free_loopback_port();

// Shell-quotes `s` with single quotes.
std::string shell_quote(const std::string& s);

}  // namespace syncscope::test_support
