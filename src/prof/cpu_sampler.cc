// CpuSampler: SIGPROF handler, per-thread CPU timers, sample slots.
#include "prof/cpu_sampler.h"

#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <ctime>
#include <new>

#include "prof/signal_channel.h"
#include "syncscope/prof/task_labels.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

namespace syncscope::prof::internal {
namespace {

// The cookie our timers carry in si_value: a SIGPROF without it is not ours.
char g_timer_cookie;
// True while a session samples. Written by the session thread; read by the
// handler.
std::atomic<bool> g_sampling{false};
// Slots, mapped on the first session, never unmapped (see the header).
std::atomic<CpuSlot*> g_slots{nullptr};
// Next slot the handler tries first; only spreads claims, publishes nothing.
std::atomic<std::uint32_t> g_cursor{0};
// Samples dropped because every slot was taken (since the process started).
std::atomic<std::uint64_t> g_lost{0};

constexpr int kClaimTries = 16;  // slots a handler tries before counting a loss

void on_sigprof(int, siginfo_t* info, void* context) {
  if (info == nullptr || info->si_code != SI_TIMER || info->si_value.sival_ptr != &g_timer_cookie) {
    return;  // not one of our timers: dropped (see cpu_profiler.h)
  }
  // acquire: the slots pointer published before sampling began is visible;
  // pairs with [CPU-start].
  if (!g_sampling.load(std::memory_order_acquire)) return;
  CpuSlot* slots = g_slots.load(std::memory_order_acquire);  // acquire: pairs with [CPU-map]
  if (slots == nullptr) return;
  const int saved_errno = errno;
  // relaxed: a hint where to start looking; the CAS below decides ownership.
  const std::uint32_t first = g_cursor.fetch_add(1, std::memory_order_relaxed);
  for (int i = 0; i < kClaimTries; ++i) {
    CpuSlot& s = slots[(first + static_cast<std::uint32_t>(i)) % kCpuSlots];
    std::uint32_t expected = CpuSlot::kFree;
    // [CPU-claim] acquire: the drain's reads of this slot's last sample
    // happened before we overwrite it; pairs with the drain's release store.
    if (!s.state.compare_exchange_strong(expected, CpuSlot::kWriting, std::memory_order_acquire,
                                         std::memory_order_relaxed)) {
      continue;
    }
    s.tid = static_cast<pid_t>(::syscall(SYS_gettid));
    s.task_label = thread_task_label(s.tid);  // lock-free, async-signal-safe
    s.weight = 1 + static_cast<std::uint32_t>(info->si_overrun > 0 ? info->si_overrun : 0);
    capture_stack_copy(static_cast<const ucontext_t*>(context), &s.copy, s.stack,
                       kCpuStackCopyBytes);
    // [CPU-ready] release: publishes tid, weight and the copy to the drain.
    s.state.store(CpuSlot::kReady, std::memory_order_release);
    errno = saved_errno;
    return;
  }
  // relaxed: a statistic; publishes nothing.
  g_lost.fetch_add(1, std::memory_order_relaxed);
  errno = saved_errno;
}

bool is_our_handler(const struct sigaction& sa) {
  return (sa.sa_flags & SA_SIGINFO) != 0 && sa.sa_sigaction == on_sigprof;
}

// glibc's pthread_getcpuclockid for a tid: CPUCLOCK_SCHED (2) |
// CPUCLOCK_PERTHREAD_MASK (4), with ~tid shifted left by CPUCLOCK_SHIFT (3).
clockid_t thread_cpu_clock(pid_t tid) {
  return static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 6u);
}

CpuSlot* map_slots() {
  if (CpuSlot* s = g_slots.load(std::memory_order_acquire)) return s;  // acquire: pairs with [CPU-map]
  const std::size_t header = sizeof(CpuSlot) * kCpuSlots;
  const std::size_t bytes = header + kCpuStackCopyBytes * kCpuSlots;
  void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return nullptr;
  auto* slots = static_cast<CpuSlot*>(mem);
  auto* stacks = static_cast<unsigned char*>(mem) + header;
  for (std::size_t i = 0; i < kCpuSlots; ++i) {
    new (&slots[i]) CpuSlot();
    slots[i].stack = stacks + i * kCpuStackCopyBytes;
  }
  // [CPU-map] release: the initialized slots are visible to handlers and
  // drains that load the pointer. Only the session thread maps (sessions
  // are serialized), so a plain store suffices.
  g_slots.store(slots, std::memory_order_release);
  return slots;
}

struct TaskScan {
  pid_t* tids;
  std::size_t count;
  std::size_t capacity;
};

}  // namespace

CpuSlot* cpu_slots() noexcept {
  return g_slots.load(std::memory_order_acquire);  // acquire: pairs with [CPU-map]
}

std::uint64_t CpuSampler::lost() const noexcept {
  return g_lost.load(std::memory_order_relaxed);  // relaxed: a statistic
}

CpuStartError CpuSampler::start(long period_ns) noexcept {
  period_ns_ = period_ns;
  timer_count_ = 0;
  struct itimerval prof_timer {};
  if (::getitimer(ITIMER_PROF, &prof_timer) == 0 &&
      (prof_timer.it_value.tv_sec != 0 || prof_timer.it_value.tv_usec != 0)) {
    return CpuStartError::kTimerInUse;
  }
  struct sigaction current {};
  if (::sigaction(SIGPROF, nullptr, &current) != 0) return CpuStartError::kSignalInUse;
  const bool program_handler = (current.sa_flags & SA_SIGINFO) != 0
                                   ? !is_our_handler(current)
                                   : current.sa_handler != SIG_DFL && current.sa_handler != SIG_IGN;
  if (program_handler) return CpuStartError::kSignalInUse;
  if (map_slots() == nullptr) return CpuStartError::kNoMemory;
  if (!installed_ && !is_our_handler(current)) previous_ = current;  // else kept from an earlier session
  struct sigaction ours {};
  ours.sa_sigaction = on_sigprof;
  ours.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&ours.sa_mask);
  if (::sigaction(SIGPROF, &ours, nullptr) != 0) return CpuStartError::kSignalInUse;
  installed_ = true;
  // [CPU-start] release: the slots are visible before any handler samples.
  g_sampling.store(true, std::memory_order_release);
  return CpuStartError::kNone;
}

std::size_t CpuSampler::arm_new_threads(int* failed) noexcept {
  pid_t tids[1024];
  TaskScan scan{tids, 0, sizeof tids / sizeof tids[0]};
  for_each_thread(
      [](pid_t tid, void* arg) {
        auto* s = static_cast<TaskScan*>(arg);
        if (s->count < s->capacity) s->tids[s->count++] = tid;
      },
      &scan);
  std::size_t armed = 0;
  for (std::size_t i = 0; i < scan.count && timer_count_ < kMaxCpuTimers; ++i) {
    bool known = false;
    for (std::size_t j = 0; j < timer_count_ && !known; ++j) known = timers_[j].tid == tids[i];
    if (known) continue;
    struct sigevent ev {};
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = SIGPROF;
    ev.sigev_value.sival_ptr = &g_timer_cookie;
    ev.sigev_notify_thread_id = tids[i];
    timer_t id;
    if (::timer_create(thread_cpu_clock(tids[i]), &ev, &id) != 0) {
      if (errno != EINVAL && errno != ESRCH) ++*failed;  // EINVAL/ESRCH: the thread exited
      continue;
    }
    struct itimerspec spec {};
    spec.it_interval.tv_sec = period_ns_ / 1'000'000'000;
    spec.it_interval.tv_nsec = period_ns_ % 1'000'000'000;
    spec.it_value = spec.it_interval;
    if (::timer_settime(id, 0, &spec, nullptr) != 0) {
      ::timer_delete(id);
      ++*failed;
      continue;
    }
    timers_[timer_count_++] = {tids[i], id};
    ++armed;
  }
  return armed;
}

void CpuSampler::stop() noexcept {
  // release: handlers that see false drop their sample; pairs with the
  // handler's acquire load.
  g_sampling.store(false, std::memory_order_release);
  for (std::size_t i = 0; i < timer_count_; ++i) ::timer_delete(timers_[i].id);
  // Handlers that passed the g_sampling check finish their copy within
  // microseconds; wait for their slots (bounded: 100 x 1 ms).
  CpuSlot* s = cpu_slots();
  for (int round = 0; s != nullptr && round < 100; ++round) {
    bool writing = false;
    for (std::size_t i = 0; i < kCpuSlots && !writing; ++i) {
      // relaxed: only waits for the state to move on; the drain's acquire
      // load reads the published contents.
      writing = s[i].state.load(std::memory_order_relaxed) == CpuSlot::kWriting;
    }
    if (!writing) break;
    struct timespec ms {0, 1'000'000};
    ::nanosleep(&ms, nullptr);
  }
}

bool CpuSampler::restore() noexcept {
  if (!installed_) return true;
  struct sigaction current {};
  if (::sigaction(SIGPROF, nullptr, &current) != 0) return false;
  if (!is_our_handler(current)) {
    installed_ = false;  // the program installed its own handler meanwhile: leave it
    return true;
  }
  // The timers are gone (stop()), so no SIGPROF is generated any more, but
  // one may still be pending in a thread that has not run since its timer
  // expired (or, under TSan, has not reached a safe point). Putting back
  // SIG_DFL over it would kill the process. Setting SIG_IGN first discards
  // every pending SIGPROF of every thread, blocked or not (POSIX
  // sigaction(): "Setting a signal action to SIG_IGN for a signal that is
  // pending shall cause the pending signal to be discarded"; Linux flushes
  // the shared and each thread's queue in do_sigaction). No wait, so none
  // that can run out: waiting for the pending bits to clear (up to 1 s)
  // still left our handler installed under TSan on a loaded machine.
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  if (::sigaction(SIGPROF, &ignore, nullptr) != 0) return false;
  if (::sigaction(SIGPROF, &previous_, nullptr) != 0) return false;
  installed_ = false;
  return true;
}

}  // namespace syncscope::prof::internal
