// All-thread stack dump by signal. See thread_dump.h for the contract.
//
// Implementation notes
//   dumper                                   target thread (signal handler)
//   slots[i].tid = tid_i  (preallocated)
//   g_session = &session        [D1] ---->   in_handler++               [H1]
//   tgkill(tid_i)                            s = g_session              [H2]
//   poll slots[i].done (acquire) <-------    fill slot; done = 1 (release)
//   g_session = nullptr         [D2]         in_handler--               [H3]
//   wait in_handler == 0        [D3]
//   read slots, free them
// All of D1..D3 and H1..H3 are seq_cst: a handler that loaded a non-null
// session (H2) incremented in_handler before (H1), so D3 cannot see zero
// until it has finished writing; a handler that runs after D2 sees null and
// touches nothing. Late signals (a thread that answered after the timeout)
// therefore never write freed memory.
#include "syncscope/task/thread_dump.h"

#include <dirent.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "syncscope/prof/stack_trace.h"
#include "syncscope/task/task_registry.h"
#include "task/stack_capture.h"
#include "task/symbolize_util.h"

namespace syncscope::task {
namespace {

struct Slot {
  std::atomic<pid_t> tid{0};   // set before the session is published; read by handlers
  std::atomic<int> done{0};    // 0 pending, 1 captured (release by the handler)
  int depth = 0;               // written by the handler before done
  std::uintptr_t pcs[prof::kMaxStackDepth];
};

struct Session {
  Slot* slots;
  std::size_t count;
};

std::atomic<Session*> g_session{nullptr};
std::atomic<int> g_in_handler{0};

void dump_handler(int, siginfo_t*, void* context) {
  const int saved_errno = errno;
  g_in_handler.fetch_add(1, std::memory_order_seq_cst);        // [H1]
  Session* s = g_session.load(std::memory_order_seq_cst);     // [H2]
  if (s != nullptr) {
    const pid_t me = static_cast<pid_t>(::syscall(SYS_gettid));
    for (std::size_t i = 0; i < s->count; ++i) {
      Slot& slot = s->slots[i];
      // relaxed: tid was published by [D1]'s seq_cst store; done is only
      // ever set by this thread's handler.
      if (slot.tid.load(std::memory_order_relaxed) != me || slot.done.load(std::memory_order_relaxed) != 0) continue;
      slot.depth = prof::capture_stack_from_context(static_cast<const ucontext_t*>(context), slot.pcs,
                                                    prof::kMaxStackDepth);
      slot.done.store(1, std::memory_order_release);  // pairs with the dumper's acquire poll
      break;
    }
  }
  g_in_handler.fetch_sub(1, std::memory_order_seq_cst);       // [H3]
  errno = saved_errno;
}

void install_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa = {};
    sa.sa_sigaction = dump_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(thread_dump_signal(), &sa, nullptr);
  });
}

std::vector<pid_t> list_threads() {
  std::vector<pid_t> tids;
  DIR* dir = ::opendir("/proc/self/task");
  if (dir == nullptr) return tids;
  while (dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    const long tid = std::strtol(e->d_name, &end, 10);
    if (end != e->d_name && *end == '\0' && tid > 0) tids.push_back(static_cast<pid_t>(tid));
  }
  ::closedir(dir);
  std::sort(tids.begin(), tids.end());
  return tids;
}

std::string thread_file(pid_t tid, const char* leaf) {
  return "/proc/self/task/" + std::to_string(tid) + "/" + leaf;
}

std::string thread_name(pid_t tid) {
  std::ifstream in(thread_file(tid, "comm"));
  std::string name;
  std::getline(in, name);
  return name;
}

// True when /proc says the thread blocks `sig` (it would never answer).
bool blocks_signal(pid_t tid, int sig) {
  std::ifstream in(thread_file(tid, "status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("SigBlk:", 0) != 0) continue;
    const unsigned long long mask = std::strtoull(line.c_str() + 7, nullptr, 16);
    return ((mask >> (sig - 1)) & 1ULL) != 0;
  }
  return false;
}

bool thread_alive(pid_t tid) {
  return ::syscall(SYS_tgkill, ::getpid(), tid, 0) == 0 || errno != ESRCH;
}

// glibc blocks all signals in a thread while it is being created or is
// exiting (and in its creator around clone), so a blocked mask is often
// transient: such threads are re-checked for this long before being
// reported as kSignalBlocked.
constexpr auto kBlockedGrace = std::chrono::milliseconds(50);

// Sends the dump signal to out[i]'s thread; returns true when it is now pending.
bool signal_thread(std::vector<ThreadStack>& out, std::size_t i) {
  if (::syscall(SYS_tgkill, ::getpid(), out[i].tid, thread_dump_signal()) == 0) {
    out[i].status = CaptureStatus::kTimedOut;  // until it answers
    return true;
  }
  out[i].status = errno == ESRCH ? CaptureStatus::kExited : CaptureStatus::kError;
  return false;
}

// Signals every slot's thread and waits for answers; fills statuses.
void collect(Slot* slots, std::vector<ThreadStack>& out, const ThreadDumpOptions& options) {
  const int sig = thread_dump_signal();
  std::vector<std::size_t> pending;  // signalled, not answered yet
  std::vector<std::size_t> blocked;  // blocking the signal, within the grace period
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i].is_caller) continue;
    if (blocks_signal(out[i].tid, sig)) {
      out[i].status = CaptureStatus::kSignalBlocked;
      blocked.push_back(i);
    } else if (signal_thread(out, i)) {
      pending.push_back(i);
    }
  }
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + options.timeout;
  auto next_check = start;
  while ((!pending.empty() || !blocked.empty()) && std::chrono::steady_clock::now() < deadline) {
    const auto now = std::chrono::steady_clock::now();
    const bool check = now >= next_check;
    if (check) next_check = now + std::chrono::milliseconds(5);
    std::erase_if(pending, [&](std::size_t i) {
      // acquire: pairs with the handler's release; the slot's pcs are visible.
      if (slots[i].done.load(std::memory_order_acquire) != 0) return true;
      if (check && !thread_alive(out[i].tid)) {
        out[i].status = CaptureStatus::kExited;
        return true;
      }
      return false;
    });
    if (check) {
      std::erase_if(blocked, [&](std::size_t i) {
        if (!thread_alive(out[i].tid)) {
          out[i].status = CaptureStatus::kExited;
          return true;
        }
        if (!blocks_signal(out[i].tid, sig)) {
          if (signal_thread(out, i)) pending.push_back(i);
          return true;
        }
        return now - start > kBlockedGrace;  // stays kSignalBlocked
      });
    }
    if (!pending.empty() || !blocked.empty()) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

}  // namespace

int thread_dump_signal() noexcept { return SIGRTMIN + kThreadDumpSignalOffset; }

const char* to_string(CaptureStatus status) noexcept {
  switch (status) {
    case CaptureStatus::kOk: return "ok";
    case CaptureStatus::kExited: return "exited";
    case CaptureStatus::kTimedOut: return "timed out";
    case CaptureStatus::kSignalBlocked: return "signal blocked";
    case CaptureStatus::kError: return "error";
  }
  return "unknown";
}

std::vector<ThreadStack> dump_all_threads(const ThreadDumpOptions& options) {
  static std::mutex dump_mu;  // one dump at a time: slots are per session
  std::lock_guard guard(dump_mu);
  install_handler();
  const pid_t self = static_cast<pid_t>(::syscall(SYS_gettid));
  const std::vector<pid_t> tids = list_threads();
  std::vector<ThreadStack> out(tids.size());
  auto slots = std::make_unique<Slot[]>(tids.size());
  for (std::size_t i = 0; i < tids.size(); ++i) {
    out[i].tid = tids[i];
    out[i].name = thread_name(tids[i]);
    out[i].is_caller = tids[i] == self;
    slots[i].tid.store(tids[i], std::memory_order_relaxed);  // relaxed: published by [D1]
  }
  Session session{slots.get(), tids.size()};
  g_session.store(&session, std::memory_order_seq_cst);  // [D1]
  collect(slots.get(), out, options);
  g_session.store(nullptr, std::memory_order_seq_cst);   // [D2]
  while (g_in_handler.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();  // [D3]

  std::map<pid_t, TaskInfo> on_thread;
  for (TaskInfo& t : TaskRegistry::instance().live_tasks()) {
    if (t.thread_id != 0 && t.state != TaskState::kQueued) on_thread[t.thread_id] = std::move(t);
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    ThreadStack& t = out[i];
    if (t.is_caller) {
      std::uintptr_t pcs[prof::kMaxStackDepth];
      const int n = internal::capture_here(pcs, prof::kMaxStackDepth, 0);
      t.pcs.assign(pcs, pcs + std::max(n, 0));
      t.status = CaptureStatus::kOk;
    } else if (slots[i].done.load(std::memory_order_acquire) != 0) {  // acquire: see collect()
      t.pcs.assign(slots[i].pcs, slots[i].pcs + std::max(slots[i].depth, 0));
      t.status = CaptureStatus::kOk;
    }
    if (auto it = on_thread.find(t.tid); it != on_thread.end()) {
      t.task = it->second.id;
      t.task_name = it->second.name;
      t.blocking_reason = it->second.blocking_reason;
    }
  }
  return out;
}

std::string format_thread_dump(const std::vector<ThreadStack>& threads) {
  std::ostringstream os;
  for (const ThreadStack& t : threads) {
    os << "thread " << t.tid << " \"" << t.name << "\" [" << to_string(t.status) << "]";
    if (t.is_caller) os << " (dumping)";
    if (t.task != 0) {
      os << " task " << t.task << " \"" << t.task_name << "\"";
      if (!t.blocking_reason.empty()) os << " (blocked: " << t.blocking_reason << ")";
    }
    os << ":\n";
    int index = 0;
    for (const internal::ResolvedFrame& f : internal::resolve(t.pcs, !t.is_caller)) {
      char pc[32];
      std::snprintf(pc, sizeof pc, "0x%llx", static_cast<unsigned long long>(f.pc));
      os << "    #" << index++ << " " << pc << " " << f.function << " " << internal::location(f) << "\n";
    }
    os << "\n";
  }
  return os.str();
}

}  // namespace syncscope::task
