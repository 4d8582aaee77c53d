// Registry operations used by the task runtime (not part of the public API).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "task/task_record.h"

namespace syncscope::task::internal {

// Publishes `rec` (its immutable fields must be final). Takes no ownership:
// the caller keeps a reference until unregister_task.
void register_task(TaskRecord* rec);
// Removes `rec`; after this returns no query can see it. Returns the live
// count just after the removal (as TaskRegistry::live_count() would read it).
std::size_t unregister_task(TaskRecord* rec);
// unregister_task in two steps, for a runner that records the task's end
// in between (its trace event is then written while the task is still
// listed, so a snapshot that misses it in the registry finds the event):
// counts the task as finished and returns the live count just after (as
// unregister_task does), then unlink_task removes it from the lists.
std::size_t count_task_finished() noexcept;
void unlink_task(TaskRecord* rec);
// Calls fn on every live record under its shard's lock (fn must be quick
// and must not call back into the registry).
void for_each_live(const std::function<void(TaskRecord&)>& fn);

// The live count is spawned - finished: each counter on its own cache line
// and written by one side only (spawners bump spawned, finishing tasks bump
// finished), so no line is written by both sides; a shared `live` counter,
// incremented at spawn and decremented at finish, moved its line between
// the spawner's and the worker's core twice per task. Namespace-scope and
// constant-initialized, so reading them needs no guard.
struct alignas(64) PaddedCounter {
  std::atomic<std::uint64_t> n{0};
};
extern PaddedCounter g_tasks_spawned;   // records created ever (ids handed out)
extern PaddedCounter g_tasks_finished;  // count_task_finished calls ever; <= spawned

// A new task's id, counted spawned: one atomic add per spawn for both (a
// created record is always finished, run or abandoned, so the live count
// covers it from its creation, a few instructions before its registration).
inline TaskId next_task_id() noexcept {
  // relaxed: uniqueness needs only atomicity; what orders this increment
  // before the task's `finished` increment is the hand-off of the record
  // to the thread that finishes it.
  return g_tasks_spawned.n.fetch_add(1, std::memory_order_relaxed) + 1;  // 0 means "no task"
}

// TaskRegistry::live_count(), inline: approximate while tasks come and go.
inline std::size_t live_count_now() noexcept {
  // finished first, with acquire (pairs with the release in
  // count_task_finished): every registration behind the finished count read
  // is then visible to the spawned load after it, so spawned >= finished.
  // The clamp only guards the arithmetic.
  const std::uint64_t finished = g_tasks_finished.n.load(std::memory_order_acquire);
  const std::uint64_t spawned = g_tasks_spawned.n.load(std::memory_order_relaxed);  // see above
  return spawned > finished ? static_cast<std::size_t>(spawned - finished) : 0;
}

}  // namespace syncscope::task::internal
