// Stack capture for the calling thread (capture_stack) and from a signal
// context (capture_stack_from_context).
//
// capture_stack has two unwinders:
//   - libgcc's _Unwind_Backtrace for a thread's first kUncachedCaptures
//     captures: no per-thread memory at all; about 2 us for 18 frames on the
//     2-core CI machine (it parses each frame's CFI every time; FDEs are found
//     with glibc's lock-free _dl_find_object).
//   - then libunwind's unw_backtrace: about 0.17 us for the same 18 frames,
//     but its per-thread trace cache is 16,384 frames of 16 bytes, all
//     written at a thread's first call: 256 KiB resident per thread that ever
//     captures (issue 16, items 1 and 4; 16 threads taking one sample each
//     grew RSS by 4.1 MiB).
// So a thread that samples a little (a short process, a compiler, a pool of
// threads each allocating a few MiB) never pays the 256 KiB, and one that
// samples a lot pays at most kUncachedCaptures slow captures (under 1 ms)
// before the cached unwinder takes over, a cost that is small beside the
// kUncachedCaptures * 512 KiB it allocated meanwhile at the default rate.
// libgcc's unwinder is used only when libgcc_s.so.1 is already loaded when
// this object initializes (every C++ program: libstdc++ needs it); it is
// bound by version from that object, never through the global scope, where
// libunwind's slower _Unwind_Backtrace of the same name may come first.
// Neither unwinder allocates: libgcc's only allocates for frames registered
// with __register_frame_info (JIT code), whose allocations the hook's depth
// counter passes through unrecorded. TSan builds unwind from a getcontext()
// snapshot instead (see capture_stack) and bind neither.
#define UNW_LOCAL_ONLY
#include "syncscope/prof/stack_trace.h"

#include <dlfcn.h>
#include <libunwind.h>
#include <ucontext.h>
#include <unwind.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "prof/thread_state.h"
#include "prof/unwind_frames.h"

namespace syncscope::prof {
namespace {

// Frames dropped on top of the caller's `skip`: capture_stack itself.
constexpr int kSelfFrames = 1;
// Scratch room for the skipped frames; callers never skip more than a few.
constexpr int kMaxSkip = 16;

// libunwind's default (global) unwind-info cache holds a mutex while it calls
// dl_iterate_phdr, which takes the loader lock. Our allocation hook unwinds,
// so an allocation inside a dl_iterate_phdr callback (loader lock held, then
// libunwind's mutex) deadlocks against any thread whose unwind misses the
// cache (libunwind's mutex, then the loader lock): with hundreds of
// short-lived threads it happened within seconds. Without that cache
// libunwind holds no lock across dl_iterate_phdr; unw_backtrace's per-thread
// trace cache keeps repeated stacks as fast as before (about 60 ns for a
// 4-frame backtrace either way on the 2-core CI machine). Runs before main,
// ahead of ordinary static constructors.
__attribute__((constructor(101))) void drop_global_unwind_cache() {
  unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_NONE);
}

#if !defined(SYNCSCOPE_TSAN)  // TSan builds unwind from getcontext() only
// Captures a thread takes with libgcc's unwinder before unw_backtrace (and its
// 256 KiB trace cache) takes over; see the file comment.
constexpr std::uint32_t kUncachedCaptures = 256;

// Captures this thread has taken; saturates at kUncachedCaptures.
__thread std::uint32_t tls_captures __attribute__((tls_model("initial-exec")));

using UnwindBacktraceFn = _Unwind_Reason_Code (*)(_Unwind_Trace_Fn, void*);
using UnwindGetIpFn = _Unwind_Ptr (*)(_Unwind_Context*);

// libgcc's unwinder; both null when libgcc_s.so.1 was not loaded at start.
// Written once by bind_libgcc_unwinder before main, read by every capture.
std::atomic<UnwindBacktraceFn> g_libgcc_backtrace{nullptr};
std::atomic<UnwindGetIpFn> g_libgcc_get_ip{nullptr};

__attribute__((constructor(101))) void bind_libgcc_unwinder() {
  internal::HookGuard guard;  // the loader's own allocations
  // RTLD_NOLOAD: only an object already loaded; the handle is never closed.
  void* gcc = dlopen("libgcc_s.so.1", RTLD_LAZY | RTLD_NOLOAD);
  if (gcc == nullptr) return;
  auto* backtrace = reinterpret_cast<UnwindBacktraceFn>(dlvsym(gcc, "_Unwind_Backtrace", "GCC_3.3"));
  auto* get_ip = reinterpret_cast<UnwindGetIpFn>(dlvsym(gcc, "_Unwind_GetIP", "GCC_3.0"));
  if (backtrace == nullptr || get_ip == nullptr) return;
  // release (both): publishes the pair; pairs with the acquire loads in
  // capture_stack. get_ip is stored first, so a non-null backtrace implies it.
  g_libgcc_get_ip.store(get_ip, std::memory_order_release);
  g_libgcc_backtrace.store(backtrace, std::memory_order_release);
}

struct LibgccTrace {
  void** out;
  int size;
  int capacity;
  UnwindGetIpFn get_ip;
};

_Unwind_Reason_Code record_libgcc_frame(_Unwind_Context* context, void* arg) {
  auto* trace = static_cast<LibgccTrace*>(arg);
  const _Unwind_Ptr ip = trace->get_ip(context);
  if (ip == 0) return _URC_END_OF_STACK;
  trace->out[trace->size++] = reinterpret_cast<void*>(ip);
  return trace->size < trace->capacity ? _URC_NO_REASON : _URC_END_OF_STACK;
}
#endif  // !SYNCSCOPE_TSAN

}  // namespace

__attribute__((noinline)) int capture_stack(std::uintptr_t* pcs, int max_frames,
                                            int skip) noexcept {
  if (pcs == nullptr || max_frames <= 0) return 0;
  skip = std::clamp(skip, 0, kMaxSkip);
  const int drop = skip + kSelfFrames;
#if defined(SYNCSCOPE_TSAN)
  // Hazard (TSan only): unw_backtrace's per-thread trace cache is freed by a
  // pthread-key destructor that can run after ThreadSanitizer has torn the
  // exiting thread's state down; the destructor's intercepted mutex lock then
  // crashes the program (a contention sample taken on a thread that later
  // exits was enough). Under TSan, unwind from a getcontext() snapshot, which
  // uses no per-thread cache; its first frame is capture_stack itself.
  ucontext_t context;
  if (getcontext(&context) != 0) return 0;
  std::uintptr_t all[kMaxStackDepth + kMaxSkip + kSelfFrames];
  const int got = capture_stack_from_context(&context, all, kMaxStackDepth + drop);
  if (got <= drop) return 0;
  const int n = std::min(got - drop, max_frames);
  for (int i = 0; i < n; ++i) pcs[i] = all[i + drop];
  return n;
#else
  void* scratch[kMaxStackDepth + kMaxSkip + kSelfFrames];
  const int want = std::min(max_frames, kMaxStackDepth) + drop;
  int got = 0;
  // acquire: pairs with the release stores of bind_libgcc_unwinder.
  const UnwindBacktraceFn libgcc = g_libgcc_backtrace.load(std::memory_order_acquire);
  if (libgcc != nullptr && tls_captures < kUncachedCaptures) {
    ++tls_captures;
    // Called from here, so the first frame reported is capture_stack, as
    // with unw_backtrace.
    LibgccTrace trace{scratch, 0, want, g_libgcc_get_ip.load(std::memory_order_acquire)};
    libgcc(record_libgcc_frame, &trace);
    got = trace.size;
  } else {
    // unw_backtrace uses libunwind's per-thread frame cache (fast path).
    got = unw_backtrace(scratch, want);
  }
  if (got <= drop) return 0;
  const int n = got - drop;
  for (int i = 0; i < n; ++i) {
    pcs[i] = reinterpret_cast<std::uintptr_t>(scratch[i + drop]);
  }
  return n;
#endif
}

int capture_stack_from_context(const ucontext_t* context, std::uintptr_t* pcs,
                               int max_frames) noexcept {
  if (context == nullptr || pcs == nullptr || max_frames <= 0) return 0;
  // unw_context_t is ucontext_t on x86_64/aarch64 Linux; copy it so libunwind
  // may write to its own view without touching the handler's argument.
  unw_context_t uc;
  static_assert(sizeof(unw_context_t) >= sizeof(ucontext_t) ||
                    sizeof(unw_context_t) == sizeof(ucontext_t),
                "libunwind context must hold a ucontext_t");
  std::memcpy(&uc, context, sizeof(ucontext_t));
  unw_cursor_t cursor;
  if (unw_init_local2(&cursor, &uc, UNW_INIT_SIGNAL_FRAME) != 0) return 0;
  return internal::collect_frames(&cursor, pcs, nullptr, std::min(max_frames, kMaxStackDepth));
}

}  // namespace syncscope::prof
