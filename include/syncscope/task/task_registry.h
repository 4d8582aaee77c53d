// TaskRegistry: the process-wide set of live tracked tasks, and the queries
// the diagnosis tools ask of it (Go's goroutine profile, reduced to what a
// leak hunt needs: what is alive, since when, spawned where, waiting on what).
//
// Every query copies a consistent snapshot of each task (TaskInfo) under the
// registry's shard locks; results never refer back into live records. Cost
// is O(live tasks) with short lock holds per shard, so it is fine to call
// from a debug endpoint while the service runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <source_location>
#include <string>
#include <utility>
#include <vector>

#include "syncscope/task/task_core.h"

namespace syncscope::task {

// Live tasks sharing one spawn site (source_location of the spawn call).
struct SiteGroup {
  std::source_location site;
  std::string site_string;         // "file:line function"
  std::size_t count = 0;           // exact number of tasks in the group
  // Blocking reason -> tasks, most frequent first ("" = not blocked:
  // running or queued). Never empty when count > 0.
  std::vector<std::pair<std::string, std::size_t>> reasons;
  Clock::duration oldest_age{};    // age of `oldest`
  TaskInfo oldest;                 // the group's oldest task (its stack, name, state)
};

class TaskRegistry {
 public:
  static TaskRegistry& instance();

  // All live tasks, oldest first (ties by id).
  std::vector<TaskInfo> live_tasks() const;
  // Live tasks whose age exceeds `older_than`, oldest first.
  std::vector<TaskInfo> resident_tasks(Clock::duration older_than) const;
  // Groups `tasks` by spawn site; groups sorted by their oldest task, oldest first.
  static std::vector<SiteGroup> group_by_site(const std::vector<TaskInfo>& tasks,
                                              Clock::time_point now = Clock::now());
  // resident_tasks(older_than) grouped by site.
  std::vector<SiteGroup> resident_by_site(Clock::duration older_than) const;

  // The live task with this id, if any.
  std::optional<TaskInfo> find(TaskId id) const;
  // Live tasks currently executing on OS thread `tid` (innermost last:
  // normally at most one).
  std::vector<TaskInfo> tasks_on_thread(pid_t tid) const;
  // Cooperative cancellation of a live task; false if unknown or already requested.
  bool request_stop(TaskId id);

  std::size_t live_count() const noexcept;      // approximate while tasks come and go
  std::uint64_t total_spawned() const noexcept;  // since process start

  struct Impl;  // public only so src/ can name it

 private:
  TaskRegistry() = default;
};

}  // namespace syncscope::task
