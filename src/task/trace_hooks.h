// Trace recording points called by the task runtime. Each is a no-op unless
// tracing_enabled(); callers check tracing_on() first to keep the off path
// to one relaxed load.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "syncscope/task/task_core.h"

namespace syncscope::task::internal {

extern std::atomic<bool> g_tracing_on;

inline bool tracing_on() noexcept {
  // relaxed: a hint only; an event racing with start/stop may be kept or
  // dropped, and the ring's own [W2]/[R2] pair orders the event data.
  return g_tracing_on.load(std::memory_order_relaxed);
}

// A whole "spawn <name>" slice on the spawner's track, from begin_ns (the
// record's creation time) to now, with the flow start to the task and a
// "live tasks" sample at its end: one event, one clock read.
void trace_spawn(std::int64_t begin_ns, TaskId id, std::string_view name) noexcept;
// For a spawn that has to wait for queue room (its wait's "blocked" slice
// nests inside): the slice's begin, written before the wait, and its end
// with the "live tasks" sample.
void trace_spawn_begin(std::int64_t ts_ns, TaskId id, std::string_view name) noexcept;
void trace_spawn_end() noexcept;
// The task's slice on the worker's track, with the flow end. The caller
// passes the timestamps it already read for the task's record (started,
// finished), saving a clock read per event; the end carries the "live
// tasks" sample taken after the task left the registry.
void trace_task_begin(std::int64_t ts_ns, TaskId id, std::string_view name) noexcept;
void trace_task_end(std::int64_t ts_ns, TaskId id, std::size_t live) noexcept;
// "blocked: <reason>" slice.
void trace_block_begin(std::string_view reason) noexcept;
void trace_block_end() noexcept;
// "live tasks" counter sample.
void trace_live_tasks(std::size_t live) noexcept;

}  // namespace syncscope::task::internal
