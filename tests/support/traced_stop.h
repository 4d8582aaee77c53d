// Stops one thread of this process from outside, the way a debugger does:
// a helper process ptrace-seizes the thread and interrupts it, so it stays
// stopped (state 't') while every other thread runs on. (SIGSTOP cannot do
// this: it stops the whole thread group.) The thread runs again when the
// TracedStop is released or destroyed.
//
//   TracedStop stopped(tid);
//   if (!stopped.ok()) GTEST_SKIP() << "ptrace not permitted here";
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

namespace syncscope::test_support {

class TracedStop {
 public:
  explicit TracedStop(pid_t tid) {
    ::prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);  // Yama: let the helper attach
    int to_helper[2], from_helper[2];
    if (::pipe(to_helper) != 0) return;
    if (::pipe(from_helper) != 0) {
      ::close(to_helper[0]);
      ::close(to_helper[1]);
      return;
    }
    helper_ = ::fork();
    if (helper_ == 0) {  // only async-signal-safe calls from here on
      ::close(to_helper[1]);
      ::close(from_helper[0]);
      char ok = 0;
      if (::ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) == 0 &&
          ::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) == 0) {
        int status = 0;
        ok = ::waitpid(tid, &status, __WALL) == tid ? 1 : 0;
      }
      (void)!::write(from_helper[1], &ok, 1);
      char c;
      (void)!::read(to_helper[0], &c, 1);  // until released (or the parent died)
      ::ptrace(PTRACE_DETACH, tid, nullptr, nullptr);
      ::_exit(0);
    }
    ::close(to_helper[0]);
    ::close(from_helper[1]);
    release_fd_ = to_helper[1];
    char ok = 0;
    if (helper_ > 0 && ::read(from_helper[0], &ok, 1) == 1) ok_ = ok == 1;
    ::close(from_helper[0]);
  }
  ~TracedStop() { release(); }
  TracedStop(const TracedStop&) = delete;
  TracedStop& operator=(const TracedStop&) = delete;

  bool ok() const { return ok_; }

  // Lets the thread run again (waits for the helper to detach).
  void release() {
    if (release_fd_ >= 0) {
      ::close(release_fd_);  // EOF: the helper detaches and exits
      release_fd_ = -1;
    }
    if (helper_ > 0) {
      ::waitpid(helper_, nullptr, 0);
      helper_ = -1;
    }
  }

 private:
  pid_t helper_ = -1;
  int release_fd_ = -1;
  bool ok_ = false;
};

}  // namespace syncscope::test_support
