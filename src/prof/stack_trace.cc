// Stack capture on libunwind's local-only unwinder. Both entry points are
// async-signal-safe and allocation-free: libunwind in UNW_LOCAL_ONLY mode keeps
// its caches in mmap'ed memory, and the scratch buffers here live on the stack.
#define UNW_LOCAL_ONLY
#include "syncscope/prof/stack_trace.h"

#include <libunwind.h>

#include <algorithm>
#include <cstring>

namespace syncscope::prof {
namespace {

// Frames dropped on top of the caller's `skip`: capture_stack itself.
constexpr int kSelfFrames = 1;
// Scratch room for the skipped frames; callers never skip more than a few.
constexpr int kMaxSkip = 16;

}  // namespace

__attribute__((noinline)) int capture_stack(std::uintptr_t* pcs, int max_frames,
                                            int skip) noexcept {
  if (pcs == nullptr || max_frames <= 0) return 0;
  skip = std::clamp(skip, 0, kMaxSkip);
  const int drop = skip + kSelfFrames;
  void* scratch[kMaxStackDepth + kMaxSkip + kSelfFrames];
  const int want = std::min(max_frames, kMaxStackDepth) + drop;
  // unw_backtrace uses libunwind's per-thread frame cache (fast path).
  const int got = unw_backtrace(scratch, want);
  if (got <= drop) return 0;
  const int n = got - drop;
  for (int i = 0; i < n; ++i) {
    pcs[i] = reinterpret_cast<std::uintptr_t>(scratch[i + drop]);
  }
  return n;
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
  int n = 0;
  const int limit = std::min(max_frames, kMaxStackDepth);
  while (n < limit) {
    unw_word_t ip = 0;
    if (unw_get_reg(&cursor, UNW_REG_IP, &ip) != 0 || ip == 0) break;
    pcs[n++] = static_cast<std::uintptr_t>(ip);
    if (unw_step(&cursor) <= 0) break;
  }
  return n;
}

}  // namespace syncscope::prof
