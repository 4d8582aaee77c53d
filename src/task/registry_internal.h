// Registry operations used by the task runtime (not part of the public API).
#pragma once

#include <functional>

#include "task/task_record.h"

namespace syncscope::task::internal {

// Publishes `rec` (its immutable fields must be final). Takes no ownership:
// the caller keeps a shared_ptr until unregister_task.
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
TaskId next_task_id() noexcept;

}  // namespace syncscope::task::internal
