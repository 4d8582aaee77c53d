// Runs a piece of a test in a fork()ed child with a deadline: the way every
// test of a hang or a crash of the host program is written here, so that a
// regression fails with a message instead of hanging or killing ctest.
//
//   ChildOutcome out = run_in_child([] { return workload(); }, std::chrono::seconds(60));
//   EXPECT_TRUE(out.exited_with(0)) << out.describe();
//
// The child runs `body` and `_exit`s with its return value (no static
// destructors, no gtest teardown in the child), or with kChildThrew when
// `body` throws. A child still running at the
// deadline is killed with SIGKILL and reported as timed out.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

namespace syncscope::test_support {

inline constexpr int kChildThrew = 125;  // exit status of a child whose body threw

struct ChildOutcome {
  bool started = false;    // fork() succeeded
  bool timed_out = false;  // still running at the deadline; killed
  int status = 0;          // waitpid status (valid when started && !timed_out)

  bool exited_with(int code) const {
    return started && !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == code;
  }
  bool killed_by(int signal) const {
    return started && !timed_out && WIFSIGNALED(status) && WTERMSIG(status) == signal;
  }
  std::string describe() const {
    if (!started) return "fork() failed";
    if (timed_out) return "the child did not finish before its deadline (hang)";
    if (WIFEXITED(status)) return "the child exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "the child died from signal " + std::to_string(WTERMSIG(status));
    return "the child stopped with wait status " + std::to_string(status);
  }
};

// Polls every 10 ms: a deadline, not a measurement.
template <class Body>
ChildOutcome run_in_child(Body&& body, std::chrono::milliseconds deadline) {
  ChildOutcome out;
  const pid_t child = ::fork();
  if (child < 0) return out;
  if (child == 0) {
    // An exception must not unwind into gtest in the child (it would go on
    // running the rest of the suite as a second process).
    int code = kChildThrew;
    try {
      code = static_cast<int>(body());
    } catch (...) {
    }
    ::_exit(code);
  }
  out.started = true;
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    const pid_t got = ::waitpid(child, &out.status, WNOHANG);
    if (got == child) return out;
    if (got < 0) {  // not ours any more (should not happen): report as a hang
      out.timed_out = true;
      return out;
    }
    if (std::chrono::steady_clock::now() >= until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, &out.status, 0);
  out.timed_out = true;
  return out;
}

}  // namespace syncscope::test_support
