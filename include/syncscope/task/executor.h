// Executor: a bounded pool of worker threads with a bounded FIFO queue whose
// every job is a tracked task (TaskRegistry sees it from spawn to return).
//
// Lifetime bounding (the article's fix #3): a default deadline per executor,
// or one per spawn, requests stop on a task that runs too long; the task is
// reported (counter, TaskInfo::deadline_exceeded, optional callback) and, if
// it cooperates (stop token / wait wrappers), ends.
//
// Shutdown: stop accepting, request stop on every task of this executor, let
// workers finish the queue (queued jobs still run, with stop already
// requested, so they can clean up), join the workers. Workers stuck in a task
// that ignores cancellation past `shutdown_grace` are detached and counted
// (their tasks stay visible in the registry as the leak they are).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>

#include "syncscope/task/task_core.h"

namespace syncscope::task {

struct ExecutorOptions {
  std::string name = "executor";   // shows in TaskInfo::executor and thread names
  unsigned workers = 0;            // 0 = std::thread::hardware_concurrency() (at least 1)
  std::size_t queue_capacity = 4096;  // spawn blocks / try_spawn fails beyond this (>= 1)
  // Deadline for tasks whose SpawnOptions::deadline is zero; zero = none.
  Clock::duration default_deadline = Clock::duration::zero();
  // Called on the watchdog thread when a task of this executor overruns its
  // deadline (after stop was requested). Must be quick and must not throw.
  std::function<void(const TaskInfo&)> on_deadline_exceeded;
  // How long the destructor / shutdown() waits for uncooperative tasks.
  Clock::duration shutdown_grace = std::chrono::seconds(5);
};

struct ExecutorStats {
  std::uint64_t spawned = 0;            // tasks accepted
  std::uint64_t completed = 0;          // tasks whose function returned
  std::uint64_t deadline_exceeded = 0;  // tasks cancelled by their deadline
  std::uint64_t rejected = 0;           // try_spawn refusals (full or shut down)
  std::size_t queued = 0;               // now waiting
  std::size_t running = 0;              // now executing
  std::size_t detached_workers = 0;     // workers abandoned at shutdown
};

class Executor {
 public:
  explicit Executor(ExecutorOptions options = {});
  ~Executor();  // shutdown()
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues f (taking () or (std::stop_token)) as a tracked task. Blocks while
  // the queue is full (as a blocked task when called from one). Returns an
  // invalid handle after shutdown.
  template <class F>
  TaskHandle spawn(std::string_view name, F&& f, SpawnOptions options = {},
                   std::source_location site = std::source_location::current()) {
    return spawn_job(name, internal::make_job(std::forward<F>(f)), options, site, true);
  }

  // As spawn, but never blocks: nullopt when the queue is full or shut down.
  template <class F>
  std::optional<TaskHandle> try_spawn(std::string_view name, F&& f, SpawnOptions options = {},
                                      std::source_location site = std::source_location::current()) {
    TaskHandle h = spawn_job(name, internal::make_job(std::forward<F>(f)), options, site, false);
    if (!h.valid()) return std::nullopt;
    return h;
  }

  // Idempotent. Returns the number of workers that had to be detached
  // because their task ignored cancellation for longer than shutdown_grace.
  std::size_t shutdown();

  const std::string& name() const noexcept;
  ExecutorStats stats() const;

  struct State;  // shared with workers (public only so src/ can name it)

 private:
  TaskHandle spawn_job(std::string_view name, internal::Job&& job, const SpawnOptions& options,
                       const std::source_location& site, bool may_block);
  std::shared_ptr<State> state_;
};

}  // namespace syncscope::task
