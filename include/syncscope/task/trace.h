// Execution trace in Chrome trace-event JSON (loads in ui.perfetto.dev and
// chrome://tracing), recorded into a bounded ring buffer that may stay on in
// production as a flight recorder (Go 1.25's trace.FlightRecorder).
//
// What is recorded while tracing is on:
// - one slice per task run, on the track of the worker thread that ran it
//   ("B"/"E", name = task name, args task_id), recorded once when the task
//   ends; a task still running at snapshot time is taken from the task
//   registry and drawn from its start, open until the snapshot instant;
// - nested "blocked: <reason>" slices for blocking() scopes and waits;
// - a flow arrow from the spawn point (a zero-length "spawn <name>" slice
//   on the spawner's track at the task's creation time; a spawn that waited
//   for queue room is a slice over its wait) to the start of the task's
//   slice;
// - counter tracks: "live tasks"; "live heap bytes", the heap profiler's
//   live-byte counter, sampled by the recorder with the "live tasks" counter
//   at most every heap_counter_interval (when the allocation hooks are
//   linked); any record_counter(name, v);
// - instant events: map promotions / rebuilds / compactions / clears (via
//   syncscope/map/map_events.h), deadline cancellations, record_instant().
//
// Ring buffer: each thread appends fixed-size events (names truncated to
// kTraceNameMax bytes) to its own ring of `events_per_thread` entries,
// without a lock and without allocating (the ring is registered once per
// thread); the oldest are overwritten and counted (TraceStats). A snapshot
// copies each ring while its thread keeps writing and drops the few slots
// overwritten during the copy; it never makes a writer wait. Cost with
// tracing off: one relaxed load per hook.
//
// Snapshots are self-consistent per track: a slice whose begin was
// overwritten is dropped, a slice still open at snapshot time (a running
// task, its current wait) is closed at the snapshot instant with
// args.unfinished = true, so every "B" has its "E", slices nest, and
// timestamps are non-decreasing on every track. A window keeps the task
// slices that end in it (whole, even if they began before it) and the
// other events that happen in it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stop_token>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "syncscope/task/task_core.h"

namespace syncscope::task {

inline constexpr std::size_t kTraceNameMax = 38;  // bytes kept of each event name (64-byte events)

struct TraceConfig {
  std::size_t events_per_thread = 16384;  // ring size per thread (>= 64; rounded up to a power of two)
  std::size_t max_exited_threads = 256;   // rings of exited threads kept (oldest dropped)
  // Least period of the "live heap bytes" track: a sample goes with a "live
  // tasks" event (task spawned or finished, tracing started, snapshot
  // taken) once this much time has passed since the last (0 = no track).
  std::chrono::milliseconds heap_counter_interval{100};
};

// Turns the recorder on (idempotent; a changed config applies to rings
// created afterwards). Events already buffered are kept.
void start_tracing(const TraceConfig& config = {});
// Turns recording off. Buffered events stay available to snapshots until
// the next clear_trace().
void stop_tracing();
bool tracing_enabled() noexcept;
void clear_trace();

// Flight-recorder snapshot: the buffered events of the last `window`
// (default: everything buffered) as a Chrome trace JSON document.
std::string trace_snapshot_json(Clock::duration window = Clock::duration::max());
absl::Status write_trace_snapshot(const std::string& path, Clock::duration window = Clock::duration::max());

// Records for `duration` (turning the recorder on if it was off, and back
// off afterwards) and returns the JSON of exactly that interval. Returns
// early, with what it has, when `stop` is signalled. Blocks the caller.
std::string trace_for(Clock::duration duration, std::stop_token stop = {});

// Counter sample on track `name` (e.g. "queue depth"). Cheap; no-op
// when tracing is off (triggers still fire).
void record_counter(std::string_view name, double value) noexcept;
// Instant event on the calling thread's track.
void record_instant(std::string_view name, std::string_view detail = {}) noexcept;

// Trigger: when counter `name` rises from below `threshold` to at or above
// it, `on_cross` receives trace_snapshot_json(window) (the flight recorder's
// "snapshot on trigger"). Runs on a background thread, at most once per
// crossing; re-arms when the counter falls below the threshold again.
using TraceTriggerCallback = std::function<void(const std::string& snapshot_json)>;
void set_counter_trigger(std::string_view name, double threshold, Clock::duration window,
                         TraceTriggerCallback on_cross);
void clear_counter_triggers();

struct TraceStats {
  std::uint64_t events_written = 0;      // since start_tracing / clear_trace
  std::uint64_t events_overwritten = 0;  // lost to ring wrap-around
  std::size_t thread_rings = 0;          // live + kept exited rings
};
TraceStats trace_stats();

}  // namespace syncscope::task
