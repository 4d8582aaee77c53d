#include "task/blocked_thread_capture.h"

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace syncscope::task::internal {
namespace {

std::string read_task_file(pid_t tid, const char* leaf) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/" + leaf);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// "voluntary_ctxt_switches:\tN" + "nonvoluntary_ctxt_switches:\tM": a
// thread that runs (and so may change its stack) changes one of them.
std::string switch_counts(pid_t tid) {
  const std::string status = read_task_file(tid, "status");
  const std::size_t at = status.find("voluntary_ctxt_switches:");
  return at == std::string::npos ? std::string() : status.substr(at);
}

struct SyscallState {
  bool blocked_in_syscall = false;
  std::uintptr_t sp = 0, pc = 0;
};

// /proc/self/task/TID/syscall: "nr arg1 .. arg6 sp pc" while blocked in a
// system call, "-1 sp pc" while blocked elsewhere, "running" otherwise.
SyscallState parse_syscall(const std::string& line) {
  SyscallState st;
  std::istringstream in(line);
  long nr = -1;
  if (!(in >> nr) || nr < 0) return st;
  std::string field[8];
  for (std::string& f : field)
    if (!(in >> f)) return st;
  st.sp = std::strtoull(field[6].c_str(), nullptr, 16);
  st.pc = std::strtoull(field[7].c_str(), nullptr, 16);
  st.blocked_in_syscall = st.sp != 0 && st.pc != 0;
  return st;
}

}  // namespace

bool capture_blocked_thread(pid_t tid, prof::internal::StackCopy* copy, unsigned char* buffer,
                            std::size_t capacity) {
#if defined(__x86_64__)
  const std::string switches = switch_counts(tid);
  const std::string syscall = read_task_file(tid, "syscall");
  const SyscallState st = parse_syscall(syscall);
  if (switches.empty() || !st.blocked_in_syscall) return false;
  if (!prof::internal::copy_stack_of_blocked_thread(st.sp, st.pc, copy, buffer, capacity)) return false;
  // Re-read in the opposite order: a thread that returned from the call and
  // entered it again in between has switched at least once.
  if (read_task_file(tid, "syscall") != syscall || switch_counts(tid) != switches) return false;
  std::uintptr_t pcs[2];
  return prof::internal::unwind_stack_copy(*copy, buffer, pcs, nullptr, 2) == 2;
#else
  (void)tid, (void)copy, (void)buffer, (void)capacity;
  return false;
#endif
}

}  // namespace syncscope::task::internal
