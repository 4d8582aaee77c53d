#include "task/heap_counter_track.h"

#include <atomic>

#include "syncscope/prof/heap_profiler.h"
#include "syncscope/task/trace.h"

namespace syncscope::task::internal {
namespace {

// Interval in ns; 0 = off. relaxed: a setting read on each event; the
// sample it gates publishes nothing (the ring's [W2]/[R2] orders the event).
std::atomic<std::int64_t> g_interval_ns{0};
// When the last sample was taken (steady ns); claimed by compare-exchange so
// concurrent events take at most one sample per interval. relaxed: the
// claim orders nothing but itself.
std::atomic<std::int64_t> g_last_ns{0};

}  // namespace

void set_heap_counter_interval(std::chrono::milliseconds interval) noexcept {
  const bool on = interval > std::chrono::milliseconds::zero() && prof::HeapProfiler::hooks_installed();
  g_interval_ns.store(on ? std::chrono::duration_cast<std::chrono::nanoseconds>(interval).count() : 0,
                      std::memory_order_relaxed);  // relaxed: see g_interval_ns
  g_last_ns.store(0, std::memory_order_relaxed);  // relaxed: see g_last_ns; the next event samples
}

void sample_heap_counter_if_due(std::int64_t now_ns) noexcept {
  const std::int64_t interval = g_interval_ns.load(std::memory_order_relaxed);  // relaxed: see g_interval_ns
  if (interval == 0) return;
  std::int64_t last = g_last_ns.load(std::memory_order_relaxed);  // relaxed: see g_last_ns
  // Not due (the common case) is decided before the call to tracing_enabled().
  if (last != 0 && now_ns - last < interval) return;
  if (!tracing_enabled()) return;
  // relaxed: see g_last_ns; a failed claim means another event sampled.
  if (!g_last_ns.compare_exchange_strong(last, now_ns, std::memory_order_relaxed)) return;
  record_counter(kHeapCounterTrack, static_cast<double>(prof::HeapProfiler::counters().live_bytes));
}

}  // namespace syncscope::task::internal
