// The trace's "live heap bytes" counter track: while tracing is on, the
// recorder samples the heap profiler's live-byte counter at most once per
// interval, whenever it records the "live tasks" counter (a task spawned or
// finished, tracing started, a snapshot taken). No thread of its own: an
// extra thread would itself change the heap it measures. Nothing is
// recorded when the allocation hooks are not linked (sanitizer builds): the
// counter would read zero.
#pragma once

#include <chrono>
#include <cstdint>

namespace syncscope::task::internal {

inline constexpr char kHeapCounterTrack[] = "live heap bytes";

// Sets the sampling interval (0 = no heap track). Called by start_tracing.
void set_heap_counter_interval(std::chrono::milliseconds interval) noexcept;
// Records a sample on the track if the interval has passed since the last.
// Cheap: one relaxed load when not due; no allocation beyond the ring's.
void sample_heap_counter_if_due(std::int64_t now_ns) noexcept;

}  // namespace syncscope::task::internal
