// Trace recording points called by the task runtime. Each is a no-op unless
// tracing_enabled(); callers check tracing_on() first to keep the off path
// to one relaxed load.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "syncscope/task/task_core.h"
#include "task/registry_internal.h"
#include "task/task_record.h"

namespace syncscope::task::internal {

extern std::atomic<bool> g_tracing_on;

inline bool tracing_on() noexcept {
  // relaxed: a hint only; an event racing with start/stop may be kept or
  // dropped, and the ring's own [W2]/[R2] pair orders the event data.
  return g_tracing_on.load(std::memory_order_relaxed);
}

// A spawn made while tracing is on, after the task's registration: notes
// in the record the spawner's thread and the live count, which the task's
// own event carries when it ends (trace_task). No event, no clock read:
// the spawn's mark is drawn at the record's creation time, on the
// spawner's track, with the flow start to the task.
// Inline: a handful of instructions on every traced spawn.
inline void note_traced_spawn(TaskRecord& rec) noexcept {
  const std::size_t live = live_count_now();
  // relaxed: standalone facts for the task's own thread (which receives the
  // record through the executor's queue or the thread's start) and for
  // snapshots (which read them under the registry's shard lock).
  rec.spawn_live.store(live > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(live), std::memory_order_relaxed);
  rec.spawner_tid.store(current_tid(), std::memory_order_relaxed);
}
// A spawn that was refused (queue full without waiting, shut down, no
// thread): its mark as an event of its own, since the task never runs.
void trace_spawn(std::int64_t begin_ns, TaskId id, std::string_view name) noexcept;
// For a spawn that has to wait for queue room (its wait's "blocked" slice
// nests inside): the slice's begin, written before the wait, and its end
// with the "live tasks" sample.
void trace_spawn_begin(std::int64_t ts_ns, TaskId id, std::string_view name) noexcept;
void trace_spawn_end() noexcept;
// The task's whole slice on the worker's track, with the flow end, written
// once when the task has finished: the caller passes the times it read for
// the task's record (started, finished) and the "live tasks" count after
// the task. One event (two for a task longer than about 4.3 s), plus the
// spawn's mark when note_traced_spawn noted one. A task still running at
// snapshot time is drawn from the registry instead (open_tasks_for_trace).
void trace_task(const TaskRecord& rec, std::int64_t start_ns, std::int64_t finish_ns, std::size_t live) noexcept;
// "blocked: <reason>" slice.
void trace_block_begin(std::string_view reason) noexcept;
void trace_block_end() noexcept;
// "live tasks" counter sample.
void trace_live_tasks(std::size_t live) noexcept;

}  // namespace syncscope::task::internal
