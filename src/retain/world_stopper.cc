// Signal-based stop-the-world (see world_stopper.h for the protocol).
// Everything reachable from the signal handler is async-signal-safe: atomics,
// raw syscalls (gettid, futex), and libunwind's local unwinder, which is
// documented as usable from signal handlers and is what the allocation
// hooks' stack capture uses as well.
#include "retain/world_stopper.h"

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace syncscope::retain::internal {
namespace {

constexpr std::size_t kMaxSlots = 8192;

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "the stop generation is used as a futex word");

// Stop generation; 0 = no stop in progress. Written only by the (serialized)
// scanner, read by handlers.
std::atomic<std::uint32_t> g_gen{0};
// Number of slots in use by the current stop (handlers scan [0, count)).
std::atomic<std::size_t> g_slot_count{0};
// Whether handlers unwind their frames (set before g_gen, read after it).
std::atomic<bool> g_unwind{false};
// Slot region, mapped once and never unmapped (late handlers stay safe).
ThreadSlot* g_slots = nullptr;
std::uint32_t g_last_gen = 0;       // scanner only
int g_installed[_NSIG] = {};        // scanner only: handler installed per signal

pid_t gettid_raw() noexcept { return static_cast<pid_t>(::syscall(SYS_gettid)); }

void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected) noexcept {
  timespec ts{0, 50 * 1000 * 1000};  // re-check periodically; wakes are not relied on alone
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, &ts,
            nullptr, 0);
}

void futex_wake_all(std::atomic<std::uint32_t>* word) noexcept {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
            nullptr, 0);
}

std::uintptr_t thread_pointer() noexcept { return reinterpret_cast<std::uintptr_t>(__builtin_thread_pointer()); }

void capture_registers(ThreadSlot* s, const ucontext_t* uc) noexcept {
#if defined(__x86_64__)
  s->reg_count = NGREG < kMaxCapturedRegs ? NGREG : kMaxCapturedRegs;
  for (int i = 0; i < s->reg_count; ++i) s->regs[i] = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[i]);
  s->sp = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
#elif defined(__aarch64__)
  s->reg_count = 31;
  for (int i = 0; i < 31; ++i) s->regs[i] = static_cast<std::uintptr_t>(uc->uc_mcontext.regs[i]);
  s->sp = static_cast<std::uintptr_t>(uc->uc_mcontext.sp);
#else
#error "retain: register capture is implemented for x86_64 and aarch64"
#endif
  s->tp = thread_pointer();
}

// Frames (pc, sp) from the interrupted context upwards.
int unwind_context(ucontext_t* uc, std::uintptr_t* pc, std::uintptr_t* sp, int max) noexcept {
#if defined(__x86_64__)
  unw_cursor_t cursor;
  // x86_64 libunwind: unw_context_t is ucontext_t.
  if (unw_init_local2(&cursor, reinterpret_cast<unw_context_t*>(uc), UNW_INIT_SIGNAL_FRAME) < 0) return 0;
  int n = 0;
  do {
    unw_word_t ip = 0, s = 0;
    if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || unw_get_reg(&cursor, UNW_REG_SP, &s) < 0) break;
    pc[n] = ip;
    sp[n] = s;
    ++n;
  } while (n < max && unw_step(&cursor) > 0);
  return n;
#else
  (void)uc, (void)pc, (void)sp, (void)max;
  return 0;
#endif
}

ThreadSlot* find_requested_slot(pid_t tid, std::uint32_t gen) noexcept {
  // acquire: pairs with the release store of g_slot_count in assign_slot [S1].
  const std::size_t count = g_slot_count.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < count; ++i) {
    ThreadSlot& s = g_slots[i];
    // acquire: pairs with the release store of kRequested [S2], which
    // publishes tid and gen.
    if (s.state.load(std::memory_order_acquire) == kRequested && s.tid == tid && s.gen == gen) return &s;
  }
  return nullptr;
}

void park(std::uint32_t gen, ucontext_t* uc) noexcept {
  ThreadSlot* s = find_requested_slot(gettid_raw(), gen);
  if (s == nullptr) return;
  std::uint32_t expected = kRequested;
  // acq_rel: claims the slot against the scanner's abandon CAS [S3].
  if (!s->state.compare_exchange_strong(expected, kCapturing, std::memory_order_acq_rel)) return;
  capture_registers(s, uc);
  // relaxed: set before g_gen's release store; ordered by [G1].
  s->frame_count = g_unwind.load(std::memory_order_relaxed)
                       ? unwind_context(uc, s->frame_pc, s->frame_sp, kMaxCapturedFrames)
                       : 0;
  // release: publishes the captured registers/frames to the scanner [P1].
  s->state.store(kPaused, std::memory_order_release);
  // acquire: pairs with the release store of 0 in resume() [G2].
  while (g_gen.load(std::memory_order_acquire) == gen) futex_wait(&g_gen, gen);
  // release: tells resume() this handler no longer touches the slot [D1].
  s->state.store(kDone, std::memory_order_release);
}

void on_signal(int, siginfo_t*, void* context) {
  const int saved_errno = errno;
  // acquire: pairs with the release store in stop() [G1].
  const std::uint32_t gen = g_gen.load(std::memory_order_acquire);
  if (gen != 0) park(gen, static_cast<ucontext_t*>(context));
  errno = saved_errno;
}

bool ensure_slots() noexcept {
  if (g_slots != nullptr) return true;
  void* p = ::mmap(nullptr, kMaxSlots * sizeof(ThreadSlot), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return false;
  g_slots = static_cast<ThreadSlot*>(p);  // zero pages: every state is kFree
  return true;
}

bool install_handler(int signal) noexcept {
  if (signal <= 0 || signal >= _NSIG) return false;
  if (g_installed[signal]) return true;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_signal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);  // nothing interrupts a parked thread's handler
  if (::sigaction(signal, &sa, nullptr) != 0) return false;
  g_installed[signal] = 1;
  return true;
}

// Calls f(tid) for every thread in /proc/self/task, without malloc.
template <class F>
bool for_each_tid(F&& f) noexcept {
  const int fd = ::open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  alignas(8) char buf[4096];
  while (true) {
    const long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      // struct linux_dirent64: d_ino(8) d_off(8) d_reclen(2) d_type(1) d_name[]
      unsigned short reclen;
      std::memcpy(&reclen, buf + off + 16, sizeof reclen);
      const char* name = buf + off + 19;
      pid_t tid = 0;
      bool digits = *name != '\0';
      for (const char* c = name; *c; ++c) {
        if (*c < '0' || *c > '9') digits = false;
        else tid = tid * 10 + (*c - '0');
      }
      if (digits) f(tid);
      off += reclen;
    }
  }
  ::close(fd);
  return true;
}

std::int64_t now_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

void nap() noexcept {
  timespec ts{0, 100 * 1000};
  ::nanosleep(&ts, nullptr);
}

bool thread_alive(pid_t tid) noexcept {
  return !(::syscall(SYS_tgkill, ::getpid(), tid, 0) != 0 && errno == ESRCH);
}

// Waits until no slot of this stop is kRequested/kCapturing, or the deadline.
void wait_answers(std::size_t count, std::int64_t deadline) noexcept {
  while (true) {
    bool pending = false;
    for (std::size_t i = 0; i < count; ++i) {
      ThreadSlot& s = g_slots[i];
      // acquire: pairs with [P1] (or the CAS of [S3]).
      const std::uint32_t st = s.state.load(std::memory_order_acquire);
      if (st != kRequested && st != kCapturing) continue;
      if (st == kRequested && !thread_alive(s.tid)) {
        std::uint32_t expected = kRequested;
        // acq_rel: against the handler's claim CAS; whoever wins owns the slot.
        s.state.compare_exchange_strong(expected, kGone, std::memory_order_acq_rel);
        continue;
      }
      pending = true;
    }
    if (!pending || now_ns() >= deadline) return;
    nap();
  }
}

}  // namespace

StopResult WorldStopper::stop(int signal, std::chrono::milliseconds timeout, bool unwind) noexcept {
  StopResult r;
  if (!ensure_slots() || !install_handler(signal)) return r;
  r.slots = g_slots;
  // relaxed: published to handlers by the release store of g_gen below.
  g_unwind.store(unwind, std::memory_order_relaxed);
  g_last_gen = g_last_gen + 1 == 0 ? 1 : g_last_gen + 1;
  const std::uint32_t gen = g_last_gen;
  // relaxed: g_gen is 0, so no handler reads the slots now.
  g_slot_count.store(0, std::memory_order_relaxed);
  // release: [G1] handlers that see gen also see g_unwind.
  g_gen.store(gen, std::memory_order_release);

  const pid_t self = gettid_raw();
  const pid_t pid = ::getpid();
  const std::int64_t deadline = now_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
  std::size_t count = 0;
  for (int round = 0; round < 16; ++round) {
    std::size_t signalled = 0;
    for_each_tid([&](pid_t tid) {
      if (tid == self) return;
      for (std::size_t i = 0; i < count; ++i)
        if (g_slots[i].tid == tid) return;
      // Skip slots a straggler from an earlier stop may still be using.
      while (count < kMaxSlots) {
        // acquire: see the straggler's [D1].
        const std::uint32_t st = g_slots[count].state.load(std::memory_order_acquire);
        if (st != kPaused && st != kCapturing) break;
        g_slots[count].tid = 0;
        ++count;
      }
      if (count == kMaxSlots) {
        r.out_of_slots = true;
        return;
      }
      ThreadSlot& s = g_slots[count];  // zero-mapped or reused: the atomic is valid
      s.tid = tid;
      s.gen = gen;
      // release: [S2] publishes tid/gen to the handler.
      s.state.store(kRequested, std::memory_order_release);
      ++count;
      // release: [S1] the handler's scan of [0, count) sees this slot.
      g_slot_count.store(count, std::memory_order_release);
      if (::syscall(SYS_tgkill, pid, tid, signal) != 0) {
        // relaxed: the thread is gone, no handler will read this slot.
        s.state.store(kGone, std::memory_order_relaxed);
      } else {
        ++signalled;
      }
    });
    if (signalled == 0) break;
    wait_answers(count, deadline);
  }
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t expected = kRequested;
    // acq_rel: [S3] a handler that has not claimed its slot finds it abandoned.
    if (g_slots[i].state.compare_exchange_strong(expected, kAbandoned, std::memory_order_acq_rel)) ++r.abandoned;
  }
  // A handler that claimed its slot just before the deadline finishes
  // capturing in microseconds; give it a short bounded grace.
  wait_answers(count, now_ns() + 20 * 1000 * 1000);
  for (std::size_t i = 0; i < count; ++i) {
    // acquire: pairs with [P1].
    const std::uint32_t st = g_slots[i].state.load(std::memory_order_acquire);
    if (st == kPaused && g_slots[i].gen == gen) ++r.paused;
    if (st == kCapturing) ++r.abandoned;  // still capturing: treated as not paused
  }
  r.count = count;
  return r;
}

void WorldStopper::resume(const StopResult& stopped) noexcept {
  if (stopped.slots == nullptr) return;
  // release: [G2] ends the stop; parked handlers return.
  g_gen.store(0, std::memory_order_release);
  futex_wake_all(&g_gen);
  const std::int64_t deadline = now_ns() + 1000LL * 1000 * 1000;
  for (std::size_t i = 0; i < stopped.count; ++i) {
    // acquire: pairs with [D1].
    while (stopped.slots[i].state.load(std::memory_order_acquire) == kPaused && now_ns() < deadline) nap();
  }
}

const char* WorldStopper::register_name(int index) noexcept {
#if defined(__x86_64__)
  static const char* const kNames[] = {"r8",  "r9",  "r10", "r11", "r12", "r13",    "r14",
                                       "r15", "rdi", "rsi", "rbp", "rbx", "rdx",    "rax",
                                       "rcx", "rsp", "rip", "efl", "csgsfs", "err", "trapno",
                                       "oldmask", "cr2"};
  if (index >= 0 && index < static_cast<int>(sizeof kNames / sizeof kNames[0])) return kNames[index];
#endif
  (void)index;
  return "register";
}

std::uintptr_t WorldStopper::slots_begin() noexcept { return reinterpret_cast<std::uintptr_t>(g_slots); }
std::size_t WorldStopper::slots_bytes() noexcept { return g_slots ? kMaxSlots * sizeof(ThreadSlot) : 0; }

int capture_own_frames(std::uintptr_t* pc, std::uintptr_t* sp, int max) noexcept {
  unw_context_t context;
  unw_cursor_t cursor;
  if (unw_getcontext(&context) < 0 || unw_init_local(&cursor, &context) < 0) return 0;
  int n = 0;
  do {
    unw_word_t ip = 0, s = 0;
    if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || unw_get_reg(&cursor, UNW_REG_SP, &s) < 0) break;
    pc[n] = ip;
    sp[n] = s;
    ++n;
  } while (n < max && unw_step(&cursor) > 0);
  return n;
}

}  // namespace syncscope::retain::internal
