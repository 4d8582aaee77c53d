// All-thread stack dump by signal. See thread_dump.h for the contract.
//
// Implementation notes
//   dumper                                   target thread (signal handler)
//   slots[i].tid = tid_i  (preallocated)
//   threads blocked in a system call: copied from outside, done = 1
//     (blocked_thread_capture.h), never signalled
//   open the dump signal (borrowed)
//   g_session = &session        [D1] ---->   in_handler++               [H1]
//   send(tid_i) unless it blocks             s = g_session              [H2]
//     the signal or has it pending           copy registers + stack slice
//   poll slots[i].done (acquire) <-------    done = 1 (release)
//   g_session = nullptr         [D2]         in_handler--               [H3]
//   wait in_handler == 0        [D3]
//   close the signal (give it back)
//   unwind each copy, read slots, free them
// All of D1..D3 and H1..H3 are seq_cst: a handler that loaded a non-null
// session (H2) incremented in_handler before (H1), so D3 cannot see zero
// until it has finished writing; a handler that runs after D2 sees null and
// touches nothing. Late signals (a thread that answered after the timeout)
// therefore never write freed memory.
//
// The handler only copies: it never unwinds. libunwind's local unwinder
// calls dl_iterate_phdr, whose loader lock an interrupted thread may hold
// (issue 13 item 5); the copies are unwound after D3 with
// prof::internal::unwind_stack_copy, which does not take that lock.
#include "syncscope/task/thread_dump.h"

#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
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
#include <sstream>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "common/annotated_mutex.h"
#include "prof/captured_stack.h"
#include "prof/signal_channel.h"
#include "syncscope/prof/stack_trace.h"
#include "syncscope/task/task_registry.h"
#include "task/blocked_thread_capture.h"
#include "task/symbolize_util.h"

namespace syncscope::task {
namespace {

using prof::internal::kStackCopyBytes;

struct Slot {
  std::atomic<pid_t> tid{0};   // set before the session is published; read by handlers
  std::atomic<int> done{0};    // 0 pending, 1 captured (release by the handler)
  prof::internal::StackCopy copy;  // written by the handler before done
  unsigned char* stack = nullptr;  // kStackCopyBytes in the session's mapping
};

struct Session {
  Slot* slots;
  std::size_t count;
};

std::atomic<Session*> g_session{nullptr};
std::atomic<int> g_in_handler{0};

void dump_handler(siginfo_t*, void* context) {
  g_in_handler.fetch_add(1, std::memory_order_seq_cst);        // [H1]
  Session* s = g_session.load(std::memory_order_seq_cst);     // [H2]
  if (s != nullptr) {
    const pid_t me = static_cast<pid_t>(::syscall(SYS_gettid));
    for (std::size_t i = 0; i < s->count; ++i) {
      Slot& slot = s->slots[i];
      // relaxed: tid was published by [D1]'s seq_cst store; done is only
      // ever set by this thread's handler.
      if (slot.tid.load(std::memory_order_relaxed) != me || slot.done.load(std::memory_order_relaxed) != 0) continue;
      prof::internal::capture_stack_copy(static_cast<const ucontext_t*>(context), &slot.copy, slot.stack,
                                         slot.stack != nullptr ? kStackCopyBytes : 0);
      slot.done.store(1, std::memory_order_release);  // pairs with the dumper's acquire poll
      break;
    }
  }
  g_in_handler.fetch_sub(1, std::memory_order_seq_cst);       // [H3]
}

// One dump at a time: the slots, the session and the channel are per dump.
common::Mutex g_dump_mu;
// Opened, sent on and closed only by the dump holding g_dump_mu; the
// handler side (which reaches it through the signal, not by name) is
// async-signal-safe.
prof::internal::SignalChannel g_channel ABSL_GUARDED_BY(g_dump_mu){dump_handler, /*block_all_in_handler=*/false};

// The session's stack copies: one mapping, so a dump of many threads costs
// no heap and gives every page back at the end.
class StackCopies {
 public:
  explicit StackCopies(std::size_t count) : bytes_(count * kStackCopyBytes) {
    void* p = bytes_ == 0 ? MAP_FAILED
                          : ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    base_ = p == MAP_FAILED ? nullptr : static_cast<unsigned char*>(p);
  }
  ~StackCopies() {
    if (base_ != nullptr) ::munmap(base_, bytes_);
  }
  StackCopies(const StackCopies&) = delete;
  StackCopies& operator=(const StackCopies&) = delete;
  unsigned char* at(std::size_t i) const { return base_ != nullptr ? base_ + i * kStackCopyBytes : nullptr; }

 private:
  std::size_t bytes_;
  unsigned char* base_;
};

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

bool thread_alive(pid_t tid) {
  return ::syscall(SYS_tgkill, ::getpid(), tid, 0) == 0 || errno != ESRCH;
}

// glibc blocks all signals in a thread while it is being created or is
// exiting (and in its creator around clone), so a blocked mask is often
// transient: such threads are re-checked for this long before being
// reported as kSignalBlocked.
constexpr auto kBlockedGrace = std::chrono::milliseconds(50);

// Sends the dump signal to out[i]'s thread unless it already has one
// pending; returns true when an answer is due.
bool signal_thread(std::vector<ThreadStack>& out, std::size_t i, bool pending) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_dump_mu) {
  const int err = pending ? 0 : g_channel.send(out[i].tid);
  if (err == 0) {
    out[i].status = CaptureStatus::kTimedOut;  // until it answers
    return true;
  }
  out[i].status = err == ESRCH ? CaptureStatus::kExited
                  : err == EAGAIN ? CaptureStatus::kQueueFull
                                  : CaptureStatus::kError;
  return false;
}

// Signals every slot's thread and waits for answers; fills statuses.
void collect(Slot* slots, std::vector<ThreadStack>& out, const ThreadDumpOptions& options)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_dump_mu) {
  const int sig = g_channel.signal();
  std::vector<std::size_t> pending;  // signalled, not answered yet
  std::vector<std::size_t> blocked;  // blocking the signal, within the grace period
  for (std::size_t i = 0; i < out.size(); ++i) {
    // relaxed: set by this thread before the session was published.
    if (out[i].is_caller || slots[i].done.load(std::memory_order_relaxed) != 0) continue;
    const prof::internal::ThreadSignalState st = prof::internal::read_thread_signal_state(out[i].tid, sig);
    if (st.blocked) {
      out[i].status = CaptureStatus::kSignalBlocked;
      blocked.push_back(i);
    } else if (signal_thread(out, i, st.pending)) {
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
      // acquire: pairs with the handler's release; the slot's copy is visible.
      if (slots[i].done.load(std::memory_order_acquire) != 0) return true;
      if (check && !thread_alive(out[i].tid)) {
        out[i].status = CaptureStatus::kExited;
        return true;
      }
      return false;
    });
    if (check) {
      std::erase_if(blocked, [&](std::size_t i) ABSL_EXCLUSIVE_LOCKS_REQUIRED(g_dump_mu) {
        if (!thread_alive(out[i].tid)) {
          out[i].status = CaptureStatus::kExited;
          return true;
        }
        const prof::internal::ThreadSignalState st = prof::internal::read_thread_signal_state(out[i].tid, sig);
        if (!st.blocked) {
          if (signal_thread(out, i, st.pending)) pending.push_back(i);
          return true;
        }
        return now - start > kBlockedGrace;  // stays kSignalBlocked
      });
    }
    if (!pending.empty() || !blocked.empty()) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  // A thread signalled but not heard from may still receive it later: the
  // signal is given back only once no thread has it pending.
  if (!pending.empty()) g_channel.note_unanswered();
}

// Frames of the dumping thread, without the loader lock (another thread may
// hold it: the point of a dump is often to find out who).
std::vector<std::uintptr_t> own_frames() {
  StackCopies buffer(1);
  prof::internal::StackCopy copy;
  prof::internal::capture_own_stack_copy(&copy, buffer.at(0), buffer.at(0) != nullptr ? kStackCopyBytes : 0);
  std::uintptr_t pcs[prof::kMaxStackDepth + 1];
  const int n = prof::internal::unwind_stack_copy(copy, buffer.at(0), pcs, nullptr, prof::kMaxStackDepth + 1);
  // pcs[0] is inside capture_own_stack_copy; from pcs[1] on, return addresses.
  return n > 1 ? std::vector<std::uintptr_t>(pcs + 1, pcs + n) : std::vector<std::uintptr_t>{};
}

}  // namespace

int thread_dump_signal() noexcept { return SIGRTMIN + kThreadDumpSignalOffset; }

const char* to_string(CaptureStatus status) noexcept {
  switch (status) {
    case CaptureStatus::kOk: return "ok";
    case CaptureStatus::kExited: return "exited";
    case CaptureStatus::kTimedOut: return "timed out";
    case CaptureStatus::kSignalBlocked: return "signal blocked";
    case CaptureStatus::kQueueFull: return "signal queue full";
    case CaptureStatus::kError: return "error";
  }
  return "unknown";
}

std::vector<ThreadStack> dump_all_threads(const ThreadDumpOptions& options) {
  common::MutexLock guard(g_dump_mu);
  const pid_t self = static_cast<pid_t>(::syscall(SYS_gettid));
  const std::vector<pid_t> tids = list_threads();
  std::vector<ThreadStack> out(tids.size());
  auto slots = std::make_unique<Slot[]>(tids.size());
  const StackCopies stacks(tids.size());
  for (std::size_t i = 0; i < tids.size(); ++i) {
    out[i].tid = tids[i];
    out[i].name = thread_name(tids[i]);
    out[i].is_caller = tids[i] == self;
    slots[i].stack = stacks.at(i);
    slots[i].tid.store(tids[i], std::memory_order_relaxed);  // relaxed: published by [D1]
  }
  // Threads blocked in a system call are read from outside: not signalled,
  // so their poll/nanosleep/... never see EINTR because of us. Done before
  // the session is published, so no (late) handler writes these slots.
  for (std::size_t i = 0; i < tids.size(); ++i) {
    if (!out[i].is_caller && internal::capture_blocked_thread(tids[i], &slots[i].copy, slots[i].stack,
                                                              slots[i].stack != nullptr ? kStackCopyBytes : 0)) {
      slots[i].done.store(1, std::memory_order_relaxed);  // relaxed: published by [D1]
    }
  }
  const bool have_signal = g_channel.open(0, thread_dump_signal()) != 0;
  Session session{slots.get(), tids.size()};
  g_session.store(&session, std::memory_order_seq_cst);  // [D1]
  if (have_signal) collect(slots.get(), out, options);
  g_session.store(nullptr, std::memory_order_seq_cst);   // [D2]
  while (g_in_handler.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();  // [D3]
  g_channel.close();

  std::map<pid_t, TaskInfo> on_thread;
  for (TaskInfo& t : TaskRegistry::instance().live_tasks()) {
    if (t.thread_id != 0 && t.state != TaskState::kQueued) on_thread[t.thread_id] = std::move(t);
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    ThreadStack& t = out[i];
    if (t.is_caller) {
      t.pcs = own_frames();
      t.status = CaptureStatus::kOk;
    } else if (slots[i].done.load(std::memory_order_acquire) != 0) {  // acquire: see collect()
      std::uintptr_t pcs[prof::kMaxStackDepth];
      const int n = prof::internal::unwind_stack_copy(slots[i].copy, slots[i].stack, pcs, nullptr,
                                                      prof::kMaxStackDepth);
      t.pcs.assign(pcs, pcs + n);
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
