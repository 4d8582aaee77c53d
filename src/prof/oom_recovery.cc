#include "prof/oom_recovery.h"

#include <setjmp.h>

#include <atomic>

#include "prof/thread_state.h"

#if defined(__cpp_exceptions)
#include <new>
#else
#include "prof/hooks/program_cxx_runtime.h"
#endif

namespace syncscope::prof::internal {

// A run_recoverable of the LD_PRELOAD core, on its caller's stack.
struct RecoveryPoint {
  jmp_buf env;
  RecoveryPoint* outer;  // the thread's enclosing recovery point, or nullptr
  int hook_depth;        // tls_state.hook_depth when it was set
};

namespace {
// relaxed: a statistic; it publishes nothing.
std::atomic<unsigned long> g_recovered{0};
}  // namespace

unsigned long recovered_out_of_memory_count() noexcept {
  return g_recovered.load(std::memory_order_relaxed);  // relaxed: see g_recovered
}

#if defined(__cpp_exceptions)

bool run_recoverable(void (*fn)(void*), void* ctx) noexcept {
  try {
    fn(ctx);
    return true;
  } catch (const std::bad_alloc&) {
    g_recovered.fetch_add(1, std::memory_order_relaxed);  // relaxed: see g_recovered
    return false;
  }
}

void fail_out_of_memory() { throw std::bad_alloc(); }

void return_to_recovery_point_if_any() noexcept {}

#else

bool run_recoverable(void (*fn)(void*), void* ctx) noexcept {
  ThreadState& t = tls_state;
  RecoveryPoint point;
  point.outer = t.recovery;
  point.hook_depth = t.hook_depth;
  // Nothing below is written after setjmp and read after the longjmp but
  // `point`'s fields set above, which the jumper reads, not this frame.
  if (setjmp(point.env) != 0) {
    g_recovered.fetch_add(1, std::memory_order_relaxed);  // relaxed: see g_recovered
    return false;  // the jumper restored t.recovery and t.hook_depth
  }
  t.recovery = &point;
  fn(ctx);
  t.recovery = point.outer;
  return true;
}

void return_to_recovery_point_if_any() noexcept {
  ThreadState& t = tls_state;
  RecoveryPoint* point = t.recovery;
  if (point == nullptr) return;
  t.recovery = point->outer;
  set_hook_depth(t, point->hook_depth);
  longjmp(point->env, 1);
}

void fail_out_of_memory() {
  return_to_recovery_point_if_any();
  throw_program_bad_alloc();
}

#endif

}  // namespace syncscope::prof::internal
