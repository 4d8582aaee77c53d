// The trace's "live heap bytes" counter track: while tracing is on, a thread
// of the recorder samples the heap profiler's live-byte counter at a fixed
// interval and records it with record_counter (so counter triggers on that
// track fire too). Nothing is recorded when the allocation hooks are not
// linked (sanitizer builds): the counter would read zero.
//
// Thread safety: start and stop may be called from any thread; they are
// serialized. stop() is bounded: the sampler wakes at once when asked to
// stop and never blocks while sampling.
#pragma once

#include <chrono>

namespace syncscope::task::internal {

inline constexpr char kHeapCounterTrack[] = "live heap bytes";

// Starts (or restarts, with a new interval) the sampler; an interval of 0
// stops it instead. The first sample is recorded at once.
void start_heap_counter_track(std::chrono::milliseconds interval);
// Stops the sampler and waits for its thread.
void stop_heap_counter_track();

}  // namespace syncscope::task::internal
