// Task labels, the per-thread part: which label each thread runs under, in a
// lock-free table a signal handler or an allocation hook may read. In the
// hook core (and the LD_PRELOAD object) with the rest of the hook path; the
// interning of (name, site) pairs is task_labels.cc.
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

#include "syncscope/prof/task_labels.h"

namespace syncscope::prof {
namespace {

// Slot tid % kThreadLabelSlots: (tid << 32) | label, 0 = empty. Written by
// the thread itself, read by anyone (a signal handler or an allocation hook
// included).
constinit std::atomic<std::uint64_t> g_thread_label[kThreadLabelSlots] = {};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "read in signal handlers");

// The calling thread's tid, asked of the kernel once per thread (0: not yet).
// Initial-exec and trivial, so a signal handler or an allocation hook reads
// it with one instruction. A fork child's thread has a tid of its own: the
// child handler below forgets the parent thread's.
__thread pid_t tls_own_tid __attribute__((tls_model("initial-exec")));

pid_t own_tid() noexcept {
  pid_t tid = tls_own_tid;
  if (tid == 0) tls_own_tid = tid = static_cast<pid_t>(::syscall(SYS_gettid));
  return tid;
}

__attribute__((constructor)) void forget_own_tid_in_fork_children() {
  pthread_atfork(nullptr, nullptr, [] { tls_own_tid = 0; });
}

}  // namespace

std::uint32_t set_thread_task_label(std::uint32_t label) noexcept {
  const pid_t tid = own_tid();
  std::atomic<std::uint64_t>& slot = g_thread_label[static_cast<std::uint32_t>(tid) % kThreadLabelSlots];
  const std::uint64_t mine = static_cast<std::uint64_t>(static_cast<std::uint32_t>(tid)) << 32;
  // relaxed: the slot is read by samplers of this same thread (a handler or
  // an allocation hook running on it) or later; a stale read only mislabels
  // nothing (tid check). A load and a store, not an exchange (a locked
  // instruction, twice per task run): only this thread writes its tid's
  // entry, and two threads whose tids share a slot overwrite each other
  // either way (the tid check then answers 0 for the one overwritten).
  const std::uint64_t old = slot.load(std::memory_order_relaxed);
  slot.store(label == 0 ? 0 : mine | label, std::memory_order_relaxed);
  return (old >> 32) == static_cast<std::uint32_t>(tid) ? static_cast<std::uint32_t>(old) : 0;
}

std::uint32_t this_thread_task_label() noexcept { return thread_task_label(own_tid()); }

std::uint32_t thread_task_label(pid_t tid) noexcept {
  // relaxed: see set_thread_task_label.
  const std::uint64_t v =
      g_thread_label[static_cast<std::uint32_t>(tid) % kThreadLabelSlots].load(std::memory_order_relaxed);
  return (v >> 32) == static_cast<std::uint32_t>(tid) ? static_cast<std::uint32_t>(v) : 0;
}

}  // namespace syncscope::prof
