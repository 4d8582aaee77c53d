// Signal-based stop-the-world (see world_stopper.h for the protocol).
// Everything reachable from the signal handler is async-signal-safe: atomics,
// raw syscalls (gettid, futex, process_vm_readv) and plain copies. The
// handler never unwinds: libunwind's local unwinder takes the loader lock
// (dl_iterate_phdr), which a paused thread may hold.
#include "retain/world_stopper.h"

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

#include "prof/signal_channel.h"

namespace syncscope::retain::internal {
namespace {

using prof::internal::kStackCopyBytes;

constexpr std::size_t kMaxSlots = 8192;
// One mapping holds the slots and, after them, one stack copy per slot. The
// copies are reserved PROT_NONE and made writable a chunk of this many slots
// at a time, on first use: address space only until a stop needs them. One
// range, so whoever must keep away from our memory (the heap walk's search
// for mmapped chunks) excludes slots_begin()/slots_bytes() and is done.
constexpr std::size_t kChunkSlots = 256;
constexpr std::size_t kChunks = kMaxSlots / kChunkSlots;
constexpr std::size_t kPage = 4096;
constexpr std::size_t kSlotBytes = (kMaxSlots * sizeof(ThreadSlot) + kPage - 1) / kPage * kPage;
constexpr std::size_t kRegionBytes = kSlotBytes + kMaxSlots * kStackCopyBytes;
static_assert(kStackCopyBytes % kPage == 0, "chunks are made writable with mprotect");
// How often threads that block the signal are looked at again: glibc blocks
// every signal in a thread while it starts or exits, so a blocked mask is
// often transient.
// Threads still blocking it after kBlockedGraceNs are reported, not awaited.
constexpr std::int64_t kRecheckBlockedNs = 1000 * 1000;
constexpr std::int64_t kBlockedGraceNs = 50 * 1000 * 1000;

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "the stop generation is used as a futex word");
static_assert(kMaxSlots % kChunkSlots == 0, "stack copies come in whole chunks");

// Stop generation; 0 = no stop in progress. Written only by the (serialized)
// scanner, read by handlers.
std::atomic<std::uint32_t> g_gen{0};
// The current stop's slots are [g_slot_base, g_slot_base + g_slot_count).
// Both written by the scanner; handlers read them after g_gen.
std::atomic<std::size_t> g_slot_base{0};
std::atomic<std::size_t> g_slot_count{0};
// Whether handlers copy stacks (set before g_gen, read after it).
std::atomic<bool> g_unwind{false};
// Slot region, mapped once and never unmapped (late handlers stay safe).
ThreadSlot* g_slots = nullptr;
// Which stack-copy chunks are writable yet. Scanner only.
bool g_chunk_ready[kChunks] = {};
std::size_t g_high_water = 0;       // scanner only: slots ever used are below
std::uint32_t g_last_gen = 0;       // scanner only

void on_stop_signal(siginfo_t* info, void* context);
// Scanner only (open/send/close), handler side async-signal-safe.
prof::internal::SignalChannel g_channel(on_stop_signal, /*block_all_in_handler=*/true);

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

// Claims this thread's slot of stop `gen`: kRequested -> kCapturing, then
// checks that the slot still names this thread and stop (a slot read just
// before an earlier stop abandoned it may have been reused since); a slot
// claimed by mistake is given back. Bounded.
ThreadSlot* claim_slot(pid_t tid, std::uint32_t gen) noexcept {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    // acquire: pairs with the release stores of [S1].
    const std::size_t base = g_slot_base.load(std::memory_order_acquire);
    const std::size_t count = g_slot_count.load(std::memory_order_acquire);
    bool contended = false;
    for (std::size_t i = base; i < base + count && i < kMaxSlots; ++i) {
      ThreadSlot& s = g_slots[i];
      // acquire: pairs with the release store of kRequested [S2], which
      // publishes tid and gen.
      const std::uint32_t st = s.state.load(std::memory_order_acquire);
      if (s.tid != tid || s.gen != gen) continue;
      if (st == kCapturing) contended = true;  // another handler's mistaken claim, given back soon
      if (st != kRequested) continue;
      std::uint32_t expected = kRequested;
      // acq_rel: claims the slot against the scanner's abandon CAS [S3] and
      // sees the tid/gen written before the kRequested it replaces.
      if (!s.state.compare_exchange_strong(expected, kCapturing, std::memory_order_acq_rel)) continue;
      if (s.tid == tid && s.gen == gen) return &s;
      // release: gives the slot back to its thread's handler.
      s.state.store(kRequested, std::memory_order_release);
    }
    if (!contended) return nullptr;
    ::syscall(SYS_sched_yield);
  }
  return nullptr;
}

void park(std::uint32_t gen, ucontext_t* uc) noexcept {
  ThreadSlot* s = claim_slot(gettid_raw(), gen);
  if (s == nullptr) return;
  capture_registers(s, uc);
  s->frame_count = 0;
  // relaxed: set before g_gen's release store; ordered by [G1].
  const bool copy = g_unwind.load(std::memory_order_relaxed) && s->stack_copy != nullptr;
  prof::internal::capture_stack_copy(uc, &s->unwind, copy ? s->stack_copy : nullptr,
                                     copy ? kStackCopyBytes : 0);
  s->captured_gen = gen;
  // release: publishes the captured registers and stack copy to the scanner [P1].
  s->state.store(kPaused, std::memory_order_release);
  // acquire: pairs with the release store of 0 in resume() [G2].
  while (g_gen.load(std::memory_order_acquire) == gen) futex_wait(&g_gen, gen);
  // release: tells resume() this handler no longer touches the slot [D1].
  s->state.store(kDone, std::memory_order_release);
}

void on_stop_signal(siginfo_t*, void* context) {
  // acquire: pairs with the release store in stop() [G1].
  const std::uint32_t gen = g_gen.load(std::memory_order_acquire);
  if (gen != 0) park(gen, static_cast<ucontext_t*>(context));
}

bool ensure_slots() noexcept {
  if (g_slots != nullptr) return true;
  void* p = ::mmap(nullptr, kRegionBytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return false;
  if (::mprotect(p, kSlotBytes, PROT_READ | PROT_WRITE) != 0) {
    ::munmap(p, kRegionBytes);
    return false;
  }
  g_slots = static_cast<ThreadSlot*>(p);  // zero pages: every state is kFree
  return true;
}

unsigned char* stack_copy_for(std::size_t slot) noexcept {
  unsigned char* copies = reinterpret_cast<unsigned char*>(g_slots) + kSlotBytes;
  const std::size_t chunk = slot / kChunkSlots;
  if (!g_chunk_ready[chunk]) {
    if (::mprotect(copies + chunk * kChunkSlots * kStackCopyBytes, kChunkSlots * kStackCopyBytes,
                   PROT_READ | PROT_WRITE) != 0) {
      return nullptr;
    }
    g_chunk_ready[chunk] = true;
  }
  return copies + slot * kStackCopyBytes;
}

// A slot whose handler may still write to it (claimed in an earlier stop).
bool is_straggler(const ThreadSlot& s) noexcept {
  // acquire: see the straggler's [D1].
  const std::uint32_t st = s.state.load(std::memory_order_acquire);
  return st == kCapturing || st == kPaused;
}

// The longest run of slots without a straggler: this stop's range.
void choose_range(std::size_t* base, std::size_t* capacity) noexcept {
  std::size_t best_base = 0, best_len = 0, run_base = 0;
  for (std::size_t i = 0; i <= g_high_water && i <= kMaxSlots; ++i) {
    const bool end = i == g_high_water || i == kMaxSlots || is_straggler(g_slots[i]);
    if (!end) continue;
    const std::size_t len = (i == g_high_water ? kMaxSlots : i) - run_base;
    if (len > best_len) best_base = run_base, best_len = len;
    run_base = i + 1;
  }
  *base = best_base;
  *capacity = best_len;
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
  const int saved = errno;
  const bool alive = !(::syscall(SYS_tgkill, ::getpid(), tid, 0) != 0 && errno == ESRCH);
  errno = saved;
  return alive;
}

// Signals the thread of slot `s` unless it blocks the signal or already has
// it pending; sets the slot's state accordingly. True when an answer is due.
bool request(ThreadSlot& s, int signal) noexcept {
  const prof::internal::ThreadSignalState st = prof::internal::read_thread_signal_state(s.tid, signal);
  if (!st.known && !thread_alive(s.tid)) {
    // relaxed: never signalled, no handler reads this slot.
    s.state.store(kGone, std::memory_order_relaxed);
    return false;
  }
  if (st.blocked) {
    s.state.store(kBlocked, std::memory_order_relaxed);  // relaxed: as above
    return false;
  }
  // release: [S2] publishes tid/gen (and the stack copy pointer) to the handler.
  s.state.store(kRequested, std::memory_order_release);
  if (st.pending) return true;  // one of ours is already on its way: no second one
  const int err = g_channel.send(s.tid);
  if (err == 0) return true;
  std::uint32_t expected = kRequested;
  // acq_rel: only a handler of this thread could have claimed it, and it
  // got no signal from us; the CAS keeps the rule that kRequested is left
  // only by CAS.
  if (s.state.compare_exchange_strong(expected, err == ESRCH ? kGone : kSignalFailed,
                                      std::memory_order_acq_rel)) {
    s.error = err;
  }
  return false;
}

struct Round {
  std::size_t base, capacity, count;
  std::uint32_t gen;
  int signal;
  pid_t self;
  bool unwind;
  std::size_t signalled;
  bool out_of_slots;
};

void add_thread(pid_t tid, void* arg) {
  Round& r = *static_cast<Round*>(arg);
  if (tid == r.self) return;
  for (std::size_t i = r.base; i < r.base + r.count; ++i)
    if (g_slots[i].tid == tid) return;
  if (r.count == r.capacity) {
    r.out_of_slots = true;
    return;
  }
  const std::size_t index = r.base + r.count;
  ThreadSlot& s = g_slots[index];  // zero-mapped or reused: the atomic is valid
  s.tid = tid;
  s.gen = r.gen;
  s.error = 0;
  s.frame_count = 0;
  s.captured_gen = 0;
  s.stack_copy = r.unwind ? stack_copy_for(index) : nullptr;
  s.state.store(kFree, std::memory_order_relaxed);  // relaxed: not yet in the published range
  ++r.count;
  if (index + 1 > g_high_water) g_high_water = index + 1;
  // release: [S1] the handler's scan of the range sees this slot.
  g_slot_count.store(r.count, std::memory_order_release);
  if (request(s, r.signal)) ++r.signalled;
}

// Waits until no slot of this stop is kRequested/kCapturing, or the deadline.
// Until `blocked_until`, threads that block the signal are looked at again
// every kRecheckBlockedNs and signalled once they stop blocking it.
void wait_answers(const Round& r, std::int64_t deadline, std::int64_t blocked_until) noexcept {
  std::int64_t next_recheck = now_ns() + kRecheckBlockedNs;
  while (true) {
    bool pending = false;
    const std::int64_t now = now_ns();
    const bool recheck = now >= next_recheck && now < blocked_until;
    if (recheck) next_recheck = now + kRecheckBlockedNs;
    for (std::size_t i = r.base; i < r.base + r.count; ++i) {
      ThreadSlot& s = g_slots[i];
      // acquire: pairs with [P1] (or the CAS of [S3]).
      const std::uint32_t st = s.state.load(std::memory_order_acquire);
      if (st == kBlocked) {
        // Awaited until blocked_until; signalled as soon as it unblocks.
        pending |= (recheck && request(s, r.signal)) || now < blocked_until;
        continue;
      }
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

// Counts the outcome of every slot of the stop into `r`.
void tally(StopResult& result, const Round& r) noexcept {
  for (std::size_t i = r.base; i < r.base + r.count; ++i) {
    ThreadSlot& s = g_slots[i];
    std::uint32_t expected = kRequested;
    // acq_rel: [S3] a handler that has not claimed its slot finds it abandoned.
    if (s.state.compare_exchange_strong(expected, kAbandoned, std::memory_order_acq_rel)) {
      ++result.timed_out;
      g_channel.note_unanswered();
    }
  }
  // A handler that claimed its slot just before the deadline finishes
  // capturing in microseconds; give it a short bounded grace.
  wait_answers(r, now_ns() + 20 * 1000 * 1000, /*blocked_until=*/0);
  for (std::size_t i = r.base; i < r.base + r.count; ++i) {
    const ThreadSlot& s = g_slots[i];
    // acquire: pairs with [P1].
    switch (s.state.load(std::memory_order_acquire)) {
      case kPaused: result.paused += s.gen == r.gen ? 1 : 0; break;
      case kCapturing: ++result.timed_out; g_channel.note_unanswered(); break;  // not paused
      case kBlocked: ++result.blocked; break;
      case kSignalFailed:
        ++result.signal_failed;
        result.queue_full += s.error == EAGAIN ? 1 : 0;
        break;
      case kGone: ++result.gone; break;
      default: break;
    }
  }
  result.abandoned = result.timed_out + result.blocked + result.signal_failed;
}

}  // namespace

int WorldStopper::default_signal() noexcept { return SIGRTMAX - 3; }

StopResult WorldStopper::stop(int signal, std::chrono::milliseconds timeout, bool unwind) noexcept {
  StopResult result;
  if (!ensure_slots()) return result;
  const bool choose = signal == 0 || signal == default_signal();
  result.signal = g_channel.open(choose ? 0 : signal, default_signal());
  if (result.signal == 0) return result;
  Round r{};
  choose_range(&r.base, &r.capacity);
  r.gen = g_last_gen = g_last_gen + 1 == 0 ? 1 : g_last_gen + 1;
  r.signal = result.signal;
  r.self = gettid_raw();
  r.unwind = unwind;
  result.slots = g_slots + r.base;
  result.gen = r.gen;
  // relaxed: published to handlers by the release store of g_gen below.
  g_unwind.store(unwind, std::memory_order_relaxed);
  // relaxed: g_gen is 0, so no handler reads the range now.
  g_slot_count.store(0, std::memory_order_relaxed);
  g_slot_base.store(r.base, std::memory_order_relaxed);
  // release: [G1] handlers that see gen also see g_unwind and the range base.
  g_gen.store(r.gen, std::memory_order_release);

  const std::int64_t start = now_ns();
  const std::int64_t deadline = start + std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
  const std::int64_t blocked_until = start + kBlockedGraceNs < deadline ? start + kBlockedGraceNs : deadline;
  for (int round = 0; round < 16; ++round) {
    r.signalled = 0;
    const std::size_t before = r.count;
    prof::internal::for_each_thread(add_thread, &r);
    if (r.count == before) break;  // no new thread: every thread is accounted for
    wait_answers(r, deadline, blocked_until);
    if (now_ns() >= deadline) break;
  }
  tally(result, r);
  result.count = r.count;
  result.out_of_slots = r.out_of_slots;
  return result;
}

void WorldStopper::resume(const StopResult& stopped) noexcept {
  if (stopped.slots == nullptr) return;
  // release: [G2] ends the stop; parked handlers return.
  g_gen.store(0, std::memory_order_release);
  futex_wake_all(&g_gen);
  // The threads run again; the copies are ours until the next stop.
  unwind_frames(stopped);
  const std::int64_t deadline = now_ns() + 1000LL * 1000 * 1000;
  for (std::size_t i = 0; i < stopped.count; ++i) {
    // acquire: pairs with [D1].
    while (stopped.slots[i].state.load(std::memory_order_acquire) == kPaused && now_ns() < deadline) nap();
  }
  g_channel.close();
}

void WorldStopper::unwind_frames(const StopResult& stopped) noexcept {
  // Created at the first resume, after the threads were released (it
  // allocates once); unwinding with it allocates nothing, so resume() may
  // run while the live-block table is frozen. Scanner only.
  static prof::internal::StackUnwinder* unwinder = prof::internal::create_stack_unwinder();
  if (unwinder == nullptr) return;
  for (std::size_t i = 0; i < stopped.count; ++i) {
    ThreadSlot& s = stopped.slots[i];
    // acquire: pairs with [P1]; kDone follows kPaused in the same handler.
    const std::uint32_t st = s.state.load(std::memory_order_acquire);
    if ((st != kPaused && st != kDone) || s.captured_gen != stopped.gen || s.gen != stopped.gen) continue;
    s.frame_count = prof::internal::unwind_stack_copy(s.unwind, s.stack_copy, s.frame_pc, s.frame_sp,
                                                      kMaxCapturedFrames, unwinder);
    // The copy has served its purpose: give its pages back, and make a
    // second call keep these frames instead of unwinding the emptied copy.
    if (s.stack_copy != nullptr) ::madvise(s.stack_copy, kStackCopyBytes, MADV_DONTNEED);
    s.captured_gen = 0;
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
std::size_t WorldStopper::slots_bytes() noexcept { return g_slots ? kRegionBytes : 0; }

int capture_own_frames(std::uintptr_t* pc, std::uintptr_t* sp, int max) noexcept {
  void* buffer = ::mmap(nullptr, kStackCopyBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buffer == MAP_FAILED) return 0;
  prof::internal::StackCopy copy;
  prof::internal::capture_own_stack_copy(&copy, static_cast<unsigned char*>(buffer), kStackCopyBytes);
  const int n = prof::internal::unwind_stack_copy(copy, static_cast<unsigned char*>(buffer), pc, sp, max);
  ::munmap(buffer, kStackCopyBytes);
  return n;
}

}  // namespace syncscope::retain::internal
