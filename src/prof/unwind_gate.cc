#include "prof/unwind_gate.h"

#include <pthread.h>
#include <time.h>

namespace syncscope::prof::internal {

constinit std::atomic<int> g_unwind_walks_in_flight{0};
constinit std::atomic<int> g_unwind_gate_closers{0};

void close_unwind_gate() noexcept {
  // seq_cst: the closer's side of the handshake in UnwindGateScope.
  if (g_unwind_gate_closers.fetch_add(1, std::memory_order_seq_cst) != 0) return;  // an outer closer waited
  for (int i = 0; i < 20000 && g_unwind_walks_in_flight.load(std::memory_order_seq_cst) != 0; ++i) {
    timespec pause{0, 50 * 1000};
    nanosleep(&pause, nullptr);
  }
}

void open_unwind_gate() noexcept {
  // relaxed: a walk that still sees the gate closed only records no frames.
  // A fork child starts with the parent's count (its prepare handlers ran
  // before the fork), so its child handlers bring it back to 0 the same way.
  g_unwind_gate_closers.fetch_sub(1, std::memory_order_relaxed);
}

namespace {

// The gate's own fork handlers, registered once per process at start-up
// (before main, and before any walk can be in flight in the common case).
__attribute__((constructor)) void register_unwind_gate_fork_handlers() {
  pthread_atfork(close_unwind_gate, open_unwind_gate, open_unwind_gate);
}

}  // namespace
}  // namespace syncscope::prof::internal
