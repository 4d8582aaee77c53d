// The trace's "live heap bytes" counter track: while tracing is on, the
// recorder samples the heap profiler's live-byte counter at most once per
// interval, whenever it records the "live tasks" counter (a task spawned or
// finished, tracing started, a snapshot taken). No thread of its own: an
// extra thread would itself change the heap it measures. Nothing is
// recorded when the allocation hooks are not linked (sanitizer builds): the
// counter would read zero.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace syncscope::task::internal {

inline constexpr char kHeapCounterTrack[] = "live heap bytes";

// When the next sample is due (steady ns); INT64_MAX while there is no heap
// track. Each recording point compares its timestamp with it: one load and
// a branch inline, no call, while a sample is not due. relaxed: a setting
// and a claim; the sample it gates publishes nothing (the ring's [W2]/[R2]
// orders the event).
extern std::atomic<std::int64_t> g_heap_sample_due_ns;

// Sets the sampling interval (0 = no heap track). Called by start_tracing.
void set_heap_counter_interval(std::chrono::milliseconds interval) noexcept;
// Takes the sample if no other thread claimed this due time first.
void sample_heap_counter(std::int64_t now_ns) noexcept;

// Records a sample on the track if the interval has passed since the last.
inline void sample_heap_counter_if_due(std::int64_t now_ns) noexcept {
  if (now_ns >= g_heap_sample_due_ns.load(std::memory_order_relaxed)) [[unlikely]] {  // relaxed: see above
    sample_heap_counter(now_ns);
  }
}

}  // namespace syncscope::task::internal
