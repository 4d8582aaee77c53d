// Stack capture of the calling thread, for the allocation hooks, the
// contention recorder and task spawns. Async-signal-safe and allocation-free,
// so it may run inside a malloc hook.
//
// Two unwinders, one per build of this file (the core is compiled twice:
// src/prof/CMakeLists.txt):
//   - The LD_PRELOAD core (SYNCSCOPE_PRELOAD_CORE): libgcc's unwinder,
//     linked in statically (libgcc_eh.a, its symbols local to the object).
//     It finds a pc's unwind table through glibc's lock-free _dl_find_object
//     and keeps no per-thread memory. That spares every process that starts
//     with the preload the loading of libunwind and the liblzma it needs
//     (about 150 KiB resident), and every thread that samples libunwind's
//     per-thread caches (16 sampling threads: 400 KiB of RssAnon on
//     unw_backtrace, about 70 KiB in all now; issue 16, items 1 and 4,
//     PreloadTest.ThreadsThatSample_AddLittleResidentMemory). The price:
//     each frame's unwind rules are looked up and interpreted, where
//     unw_backtrace's trace cache answered repeated stacks from memory; a
//     sample is taken once per 512 KiB allocated by default.
//   - The library linked into programs: libunwind's unw_backtrace. A
//     program that links the library also loads libunwind (the CPU profiler
//     and thread dumps unwind copies of stacks with it), and libunwind
//     exports _Unwind_Backtrace too, unversioned, ahead of libgcc_s in the
//     lookup order: a call by name would reach libunwind's, whose global
//     cache takes the loader lock inside a hook (LoaderLock.* deadlocked).
#include "syncscope/prof/stack_trace.h"

#include <algorithm>

#include "prof/unwind_gate.h"

#if defined(SYNCSCOPE_PRELOAD_CORE)
#include <unwind.h>
#else
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <ucontext.h>
#endif

namespace syncscope::prof {
namespace {

// Frames dropped on top of the caller's `skip`: capture_stack itself.
constexpr int kSelfFrames = 1;
// Callers never skip more than a few.
constexpr int kMaxSkip = 16;

#if !defined(SYNCSCOPE_PRELOAD_CORE)
// libunwind's default (global) unwind-info cache holds a mutex while it calls
// dl_iterate_phdr, which takes the loader lock. Our allocation hook unwinds
// (capture_stack, in the library build), so an allocation
// inside a dl_iterate_phdr callback (loader lock held, then libunwind's
// mutex) deadlocks against any thread whose unwind misses the cache
// (libunwind's mutex, then the loader lock): with hundreds of short-lived
// threads it happened within seconds (LoaderLock.*). Without that cache
// libunwind holds no lock across dl_iterate_phdr; unw_backtrace's per-thread
// trace cache keeps repeated stacks as fast as before. Runs before main,
// ahead of ordinary static constructors.
__attribute__((constructor(101))) void drop_global_unwind_cache() {
  unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_NONE);
}
#endif

#if defined(SYNCSCOPE_PRELOAD_CORE)
struct Walk {
  std::uintptr_t* pcs;
  int max_frames;
  int to_skip;  // frames still to drop, innermost first
  int count = 0;
};

// One frame of _Unwind_Backtrace, innermost first: its return address (the
// instruction after the call, as unw_backtrace gives it).
_Unwind_Reason_Code take_frame(_Unwind_Context* context, void* arg) {
  Walk& walk = *static_cast<Walk*>(arg);
  int before_instruction = 0;
  const auto pc = static_cast<std::uintptr_t>(_Unwind_GetIPInfo(context, &before_instruction));
  if (pc == 0) return _URC_END_OF_STACK;
  if (walk.to_skip > 0) {
    --walk.to_skip;
    return _URC_NO_REASON;
  }
  walk.pcs[walk.count++] = pc;
  return walk.count < walk.max_frames ? _URC_NO_REASON : _URC_END_OF_STACK;
}
#endif

}  // namespace

__attribute__((noinline)) int capture_stack(std::uintptr_t* pcs, int max_frames, int skip) noexcept {
  if (pcs == nullptr || max_frames <= 0) return 0;
  const internal::UnwindGateScope walk;  // no walk while a fork is under way
  if (!walk.open()) return 0;
  skip = std::clamp(skip, 0, kMaxSkip);
  const int drop = skip + kSelfFrames;
#if defined(SYNCSCOPE_PRELOAD_CORE)
  Walk frames{pcs, std::min(max_frames, kMaxStackDepth), drop};
  _Unwind_Backtrace(take_frame, &frames);
  asm volatile("" ::: "memory");  // keep this frame (no tail call): kSelfFrames counts it
  return frames.count;
#elif defined(SYNCSCOPE_TSAN)
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
  // unw_backtrace uses libunwind's per-thread frame cache (fast path).
  const int got = unw_backtrace(scratch, want);
  if (got <= drop) return 0;
  const int n = got - drop;
  for (int i = 0; i < n; ++i) pcs[i] = reinterpret_cast<std::uintptr_t>(scratch[i + drop]);
  return n;
#endif
}

}  // namespace syncscope::prof
