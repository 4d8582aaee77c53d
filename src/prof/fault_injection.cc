// The armed fault plan and its matching (syncscope/prof/fault_injection.h).
#include "syncscope/prof/fault_injection.h"

#include "prof/fault_point.h"
#include "prof/heap_recorder.h"
#include "prof/hook_slow_reasons.h"
#include "prof/thread_state.h"

namespace syncscope::prof {
namespace internal {

constinit std::atomic<bool> g_fault_armed{false};

namespace {

// The armed plan. Written by arm() before its release store of
// g_fault_armed; read by hooks after their acquire load of it ([FI-arm]), so
// relaxed accesses suffice for the fields themselves.
constinit std::atomic<fault_injection::Target> g_target{fault_injection::Target::kHeap};
constinit std::atomic<std::size_t> g_size{0};
constinit std::atomic<const void*> g_thread{nullptr};  // &tls_state of the arming thread, or nullptr
// Counted down by matching requests (compare-exchange, so concurrent hooks
// never skip or fail one request too many).
constinit std::atomic<std::uint64_t> g_skip_left{0};
constinit std::atomic<std::uint64_t> g_failures_left{0};
constinit std::atomic<std::uint64_t> g_injected{0};  // statistics for the test

// Takes one from `left` unless it is 0 (kUnlimited never decreases).
bool take_one(std::atomic<std::uint64_t>& left) noexcept {
  // relaxed: a counter; the plan itself is ordered by [FI-arm].
  std::uint64_t n = left.load(std::memory_order_relaxed);
  while (n != 0) {
    if (n == fault_injection::kUnlimited) return true;
    if (left.compare_exchange_weak(n, n - 1, std::memory_order_relaxed)) return true;
  }
  return false;
}

}  // namespace

bool should_inject_slow(fault_injection::Target target, std::size_t size) noexcept {
  // relaxed (all): ordered by the acquire of g_fault_armed ([FI-arm]).
  if (g_target.load(std::memory_order_relaxed) != target) return false;
  const std::size_t want = g_size.load(std::memory_order_relaxed);
  if (want != 0 && want != size) return false;
  const void* thread = g_thread.load(std::memory_order_relaxed);
  if (thread != nullptr && thread != &tls_state) return false;
  if (g_skip_left.load(std::memory_order_relaxed) != 0 && take_one(g_skip_left)) return false;
  if (!take_one(g_failures_left)) return false;
  g_injected.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistics
  return true;
}

}  // namespace internal

namespace fault_injection {

bool arm(const FaultPlan& plan) noexcept {
  disarm();
  if (plan.target == Target::kHeap && !internal::hooks_linked()) return false;
  // relaxed (all): published by the release store below ([FI-arm]).
  internal::g_target.store(plan.target, std::memory_order_relaxed);
  internal::g_size.store(plan.target == Target::kHeap ? plan.size : 0, std::memory_order_relaxed);
  internal::g_thread.store(plan.calling_thread_only ? &internal::tls_state : nullptr,
                           std::memory_order_relaxed);
  internal::g_skip_left.store(plan.skip, std::memory_order_relaxed);
  internal::g_failures_left.store(plan.failures, std::memory_order_relaxed);
  internal::g_injected.store(0, std::memory_order_relaxed);
  // release: [FI-arm], publishes the plan to hooks that see true.
  internal::g_fault_armed.store(true, std::memory_order_release);
  internal::raise_hook_slow_reason(internal::kSlowFaultArmed);  // after the flag (hook_slow_reasons.h)
  return true;
}

void disarm() noexcept {
  // relaxed: hooks that still see true run against the old plan, which stays
  // valid (its fields are only rewritten by the next arm()).
  internal::g_fault_armed.store(false, std::memory_order_relaxed);
  internal::clear_hook_slow_reason(internal::kSlowFaultArmed);
}

std::uint64_t injected() noexcept {
  return internal::g_injected.load(std::memory_order_relaxed);  // relaxed: statistics
}

}  // namespace fault_injection
}  // namespace syncscope::prof
