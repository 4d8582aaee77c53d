// The live record behind every tracked task, shared by the registry (which
// lists it), the runner (which updates it), handles (which observe it) and
// the deadline watchdog (which may cancel it).
//
// Field discipline:
// - "immutable": written once before the record is published to the
//   registry (publication: register_task's release push [A1], acquired by
//   the shard mutex holder that drains it); read freely after.
// - atomics: written by the thread running the task (and the watchdog for
//   deadline_exceeded), read by any query; each is a standalone fact, so
//   relaxed loads/stores suffice except where noted.
// - mu_: guards the blocking reason / wait object / blocked_since triple,
//   which must be read together; joiners wait on done_cv with it.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <source_location>
#include <stop_token>
#include <string>

#include "absl/base/thread_annotations.h"
#include "common/annotated_mutex.h"
#include "syncscope/prof/stack_trace.h"
#include "syncscope/task/task_core.h"
#include "task/lazy_stop_source.h"

namespace syncscope::task::internal {

// Where deadline overruns of one executor are counted and reported. Shared
// by the executor and its tasks' records (a record may outlive the executor).
struct DeadlineReporter {
  std::function<void(const TaskInfo&)> on_exceeded;  // immutable after creation
  std::atomic<std::uint64_t> exceeded{0};            // counter only
};

std::int64_t now_ns() noexcept;  // steady_clock, nanoseconds since its epoch
inline Clock::time_point to_time_point(std::int64_t ns) {
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

struct TaskRecord {
  // User-provided, so that allocate_shared's value-initialization does not
  // zero the whole record first: `stack` is written by the capture and read
  // only in [0, stack_depth).
  TaskRecord(std::string_view task_name, std::string_view executor_name)
      : name(task_name), executor(executor_name) {}

  // --- immutable ---
  TaskId id = 0;
  TaskId parent = 0;
  std::string name;
  std::string executor;
  std::source_location site;
  std::int64_t created_ns = 0;
  Clock::duration relative_deadline{};  // <= 0: none; armed when the task starts
  std::shared_ptr<DeadlineReporter> reporter;  // may be null (detached tasks)
  const void* owner = nullptr;          // the Executor::State that runs it; null for detached
  int stack_depth = 0;
  std::uintptr_t stack[prof::kMaxStackDepth];

  // Thread-safe by itself. Its std::stop_source state is created on first
  // need (lazy_stop_source.h): a task whose function takes () and that never
  // asks for its token or is asked to stop allocates none.
  LazyStopSource stop;

  // --- atomics (relaxed unless noted: independent facts, no payload) ---
  std::atomic<TaskState> state{TaskState::kQueued};
  std::atomic<std::int64_t> started_ns{0};
  std::atomic<std::int64_t> finished_ns{0};
  std::atomic<std::int64_t> deadline_ns{0};  // 0 = none
  std::atomic<pid_t> tid{0};
  std::atomic<bool> deadline_exceeded{false};
  // Set by a spawn made while tracing is on (note_traced_spawn): the
  // spawner's thread and the live count after the spawn. The task's trace
  // event, written when it ends, carries them, so the spawn itself writes
  // no event (trace_hooks.h). 0 = no spawn mark to draw.
  std::atomic<pid_t> spawner_tid{0};
  std::atomic<std::uint32_t> spawn_live{0};

  // --- the blocking facts, written and read together under mu ---
  mutable common::Mutex mu;
  std::string reason ABSL_GUARDED_BY(mu);  // "" unless blocked
  std::uintptr_t wait_object ABSL_GUARDED_BY(mu) = 0;
  std::int64_t blocked_since_ns ABSL_GUARDED_BY(mu) = 0;

  // --- completion (see mark_done and TaskHandle::join) ---
  // Set once, after the function returned and the record was unregistered.
  // seq_cst store [J1] / seq_cst loads [J4]: with `joiners` a store-then-load
  // pair on each side, so either the runner sees a joiner and notifies, or
  // the joiner sees done; also a release/acquire for done().
  std::atomic<bool> done{false};
  // Joiners inside join/join_for: incremented under mu [J3] before they
  // test done, decremented after. Read by the runner [J2] (seq_cst).
  std::atomic<int> joiners{0};
  std::condition_variable done_cv;  // waited on with mu; notified after done, only if joiners

  // --- registry links: written by register_task before it pushes the record
  // onto its shard's arrivals (a release, [A1] in task_registry.cc), then
  // guarded by that shard's mutex ---
  TaskRecord* prev = nullptr;
  TaskRecord* next = nullptr;
};

// Marks the task done and wakes its joiners: no lock unless one is waiting.
void mark_done(TaskRecord& rec) noexcept;

// A consistent copy of the record's observable state.
TaskInfo snapshot(const TaskRecord& rec);

// The record of the task running on this thread (nullptr outside tasks).
TaskRecord* current_task() noexcept;

// Creates a record (state queued) without a spawn stack and without
// registering it: the spawn function captures its own stack into it
// (capture_spawn_stack) and then publishes it with register_task, so the
// capture starts in the spawn function's frame and unwinds no frame of ours.
// The record's memory comes from the record pool (record_pool.h). The
// reporter is kept only when the task has a deadline (only the deadline
// watchdog reads it).
std::shared_ptr<TaskRecord> create_task(std::string_view name, std::string_view executor,
                                        const std::source_location& site,
                                        const SpawnOptions& options, Clock::duration default_deadline,
                                        const std::shared_ptr<DeadlineReporter>& reporter,
                                        const void* owner);

// Runs `job` as task `rec` on the calling thread: state transitions, deadline
// arming, trace slice; then destroys the job, bumps *completed (if given),
// unregisters the record and wakes joiners — in that order.
void run_task(const std::shared_ptr<TaskRecord>& rec, Job& job,
              std::atomic<std::uint64_t>* completed = nullptr);

// Drops a task that will never run (executor shut down before it started).
void abandon_task(const std::shared_ptr<TaskRecord>& rec);

pid_t current_tid() noexcept;

}  // namespace syncscope::task::internal
