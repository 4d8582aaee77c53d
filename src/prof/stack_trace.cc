// Stack capture. capture_stack walks by frame shapes first
// (shape_unwind/shape_walk.h) and hands the stacks it refuses to libunwind's
// local-only unwinder or, in the LD_PRELOAD object, libgcc's;
// capture_stack_from_context (signal handlers) uses libunwind, which steps
// through signal frames, and is left out of the LD_PRELOAD object: nothing
// there calls it, and without it the object needs no libunwind (nor the
// liblzma libunwind loads), which every preloaded process would map,
// relocate and initialize (issue 16, item 1). Both entry points are
// async-signal-safe and allocation-free: the shape walk's tables and
// libunwind's caches (in UNW_LOCAL_ONLY mode) live in mmap'ed memory, the
// shape walk's file reads are open/pread/close, and the scratch buffers here
// live on the stack. One exception, in the library only: capture_stack's
// call that gives a thread a fast-unwind place (fast_unwind_places.h) calls
// pthread_setspecific, which glibc may allocate in; no signal handler of
// ours calls capture_stack.
#include "syncscope/prof/stack_trace.h"

#include <ucontext.h>
#if defined(SYNCSCOPE_PRELOAD_CORE)
#include <unwind.h>
#else
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#endif

#include <algorithm>
#include <cstring>

#include "prof/shape_unwind/shape_walk.h"
#include "prof/unwind_gate.h"
#if !defined(SYNCSCOPE_PRELOAD_CORE)
#include "prof/fast_unwind_places.h"
#include "prof/unwind_frames.h"
#endif

namespace syncscope::prof {
namespace {

// Frames dropped on top of the caller's `skip`: capture_stack itself.
constexpr int kSelfFrames = 1;
// Scratch room for the skipped frames; callers never skip more than a few.
constexpr int kMaxSkip = 16;

#if !defined(SYNCSCOPE_PRELOAD_CORE)
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
#endif

#if !defined(SYNCSCOPE_PRELOAD_CORE)
std::uintptr_t as_pc(void* frame) noexcept { return reinterpret_cast<std::uintptr_t>(frame); }  // unw_backtrace's
#endif
std::uintptr_t as_pc(std::uintptr_t frame) noexcept { return frame; }

// Copies frames [drop, got) of a walk to pcs and returns how many: the one
// tail of every walk in capture_stack.
template <class Frame>
int keep_after_drop(const Frame* frames, int got, int drop, std::uintptr_t* pcs) noexcept {
  if (got <= drop) return 0;
  for (int i = drop; i < got; ++i) pcs[i - drop] = as_pc(frames[i]);
  return got - drop;
}

#if defined(SYNCSCOPE_PRELOAD_CORE)
// A walk with libgcc's _Unwind_Backtrace (the LD_PRELOAD object's copy,
// libgcc_eh.a linked in): it finds each frame's unwind table through glibc's
// _dl_find_object, without the loader lock, and keeps no per-thread cache.
struct GccWalk {
  std::uintptr_t* pcs;
  int max_frames;
  int count = 0;
};

// One frame, innermost first (the first is the caller of _Unwind_Backtrace,
// capture_stack itself): its return address, as unw_backtrace gives it.
_Unwind_Reason_Code take_frame(_Unwind_Context* context, void* arg) {
  GccWalk& walk = *static_cast<GccWalk*>(arg);
  const auto pc = static_cast<std::uintptr_t>(_Unwind_GetIP(context));
  if (pc == 0) return _URC_END_OF_STACK;
  walk.pcs[walk.count++] = pc;
  return walk.count < walk.max_frames ? _URC_NO_REASON : _URC_END_OF_STACK;
}
#endif

}  // namespace

__attribute__((noinline)) int capture_stack(std::uintptr_t* pcs, int max_frames,
                                            int skip) noexcept {
  if (pcs == nullptr || max_frames <= 0) return 0;
  const internal::UnwindGateScope walk;  // no walk while a fork is under way
  if (!walk.open()) return 0;
  skip = std::clamp(skip, 0, kMaxSkip);
  const int drop = skip + kSelfFrames;
  // Every walk below stops after `want` frames, so at most max_frames remain
  // once the dropped ones are skipped.
  const int want = std::min(max_frames, kMaxStackDepth) + drop;
  std::uintptr_t all[kMaxStackDepth + kMaxSkip + kSelfFrames];
  // First the shape walk (shape_walk.h): one table for the whole process, no
  // unwind-table page mapped. Its first frame is capture_stack, as below.
  const int shaped = internal::walk_frame_shapes(all, want);
  if (shaped >= 0) return keep_after_drop(all, shaped, drop, pcs);
  // It refused (a signal frame, code it cannot describe): libgcc's walk in
  // the LD_PRELOAD object, libunwind's in the library; both handle those.
#if defined(SYNCSCOPE_PRELOAD_CORE)
  // libgcc's unwinder (about 8x faster than stepping with libunwind without
  // its cache: CaptureWalks). Its first frame is capture_stack too.
  GccWalk gcc_walk{all, want};
  _Unwind_Backtrace(take_frame, &gcc_walk);
  return keep_after_drop(all, gcc_walk.count, drop, pcs);
#else
#if defined(SYNCSCOPE_TSAN)
  // Hazard (TSan only): unw_backtrace's per-thread trace cache is freed by a
  // pthread-key destructor that can run after ThreadSanitizer has torn the
  // exiting thread's state down; the destructor's intercepted mutex lock then
  // crashes the program (a contention sample taken on a thread that later
  // exits was enough). Under TSan every such capture steps from a snapshot.
  const bool fast = false;
#else
  // At most kFastUnwindPlaces threads use unw_backtrace's per-thread cache
  // (256 KiB each, fast_unwind_places.h); the others step from a snapshot.
  const bool fast = internal::may_unwind_fast();
#endif
  if (fast) {
    void* scratch[kMaxStackDepth + kMaxSkip + kSelfFrames];
    // unw_backtrace omits itself; its first frame is capture_stack.
    return keep_after_drop(scratch, unw_backtrace(scratch, want), drop, pcs);
  }
  // Step from a snapshot of this frame: its first frame is capture_stack too.
  unw_context_t context;
  unw_cursor_t cursor;
  if (unw_getcontext(&context) != 0 || unw_init_local(&cursor, &context) != 0) return 0;
  return keep_after_drop(all, internal::collect_frames(&cursor, all, nullptr, want), drop, pcs);
#endif
}

#if !defined(SYNCSCOPE_PRELOAD_CORE)
int capture_stack_from_context(const ucontext_t* context, std::uintptr_t* pcs,
                               int max_frames) noexcept {
  if (context == nullptr || pcs == nullptr || max_frames <= 0) return 0;
  const internal::UnwindGateScope walk;  // no walk while a fork is under way
  if (!walk.open()) return 0;
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
#endif

}  // namespace syncscope::prof
