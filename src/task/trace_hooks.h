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
  // dropped, and the ring's own mutex orders the event data.
  return g_tracing_on.load(std::memory_order_relaxed);
}

// "spawn <name>" slice on the spawner's track, with the flow start to the task.
void trace_spawn_begin(std::int64_t ts_ns, TaskId id, std::string_view name) noexcept;
void trace_spawn_end() noexcept;
// The task's slice on the worker's track, with the flow end.
void trace_task_begin(TaskId id, std::string_view name) noexcept;
void trace_task_end(TaskId id) noexcept;
// "blocked: <reason>" slice.
void trace_block_begin(std::string_view reason) noexcept;
void trace_block_end() noexcept;
// "live tasks" counter sample.
void trace_live_tasks(std::size_t live) noexcept;

}  // namespace syncscope::task::internal
