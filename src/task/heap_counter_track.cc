#include "task/heap_counter_track.h"

#include <atomic>
#include <limits>

#include "syncscope/prof/heap_profiler.h"
#include "syncscope/task/trace.h"

namespace syncscope::task::internal {

inline constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();

std::atomic<std::int64_t> g_heap_sample_due_ns{kNever};

namespace {
// Interval in ns; 0 = off. relaxed: a setting; see g_heap_sample_due_ns.
std::atomic<std::int64_t> g_interval_ns{0};
}  // namespace

void set_heap_counter_interval(std::chrono::milliseconds interval) noexcept {
  const bool on = interval > std::chrono::milliseconds::zero() && prof::HeapProfiler::hooks_installed();
  const std::int64_t ns = on ? std::chrono::duration_cast<std::chrono::nanoseconds>(interval).count() : 0;
  g_interval_ns.store(ns, std::memory_order_relaxed);  // relaxed: see g_interval_ns
  // relaxed: see g_heap_sample_due_ns; 0: the next event samples.
  g_heap_sample_due_ns.store(on ? 0 : kNever, std::memory_order_relaxed);
}

void sample_heap_counter(std::int64_t now_ns) noexcept {
  const std::int64_t interval = g_interval_ns.load(std::memory_order_relaxed);  // relaxed: see g_interval_ns
  if (interval == 0 || !tracing_enabled()) return;
  std::int64_t due = g_heap_sample_due_ns.load(std::memory_order_relaxed);  // relaxed: see its comment
  if (now_ns < due) return;
  // relaxed: see g_heap_sample_due_ns; a failed claim means another event sampled.
  if (!g_heap_sample_due_ns.compare_exchange_strong(due, now_ns + interval, std::memory_order_relaxed)) return;
  record_counter(kHeapCounterTrack, static_cast<double>(prof::HeapProfiler::counters().live_bytes));
}

}  // namespace syncscope::task::internal
