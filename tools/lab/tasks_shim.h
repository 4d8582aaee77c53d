// The few task operations the scenarios need, on top of syncscope::task
// (tracked tasks: spawn site, blocking reason, age, trace). Templates, so the
// spawn site recorded is the scenario's own line and no extra closure layer
// sits between a task's thread and what it captured.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <source_location>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "syncscope/task/task.h"

namespace syncscope::lab {


// Starts f on a thread of its own (Go's `go f()`). Returns false if no
// thread could be created.
template <class F>
bool go(std::string_view name, F&& f, std::source_location site = std::source_location::current()) {
  return syncscope::task::spawn_detached(name, std::forward<F>(f), {}, site).valid();
}

// Waits until pred() holds, marked as blocked on `reason` when tracked.
// Returns pred()'s final value (false: the task was cancelled first).
template <class Pred>
bool wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, Pred pred,
                std::string_view reason) {
  return syncscope::task::wait(cv, lock, std::move(pred), reason);
}

// As wait_until, giving up after `timeout`.
template <class Pred>
bool wait_until_for(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
                    std::chrono::milliseconds timeout, Pred pred, std::string_view reason) {
  return syncscope::task::wait_for(cv, lock, timeout, std::move(pred), reason);
}

// A bounded pool of workers with a per-task deadline (fix #3). With the task
// part it is syncscope::task::Executor; without it, tasks run on their own
// threads and only the deadline (passed to the task) bounds them.
class BoundedPool {
 public:
  BoundedPool(std::string name, unsigned workers, std::size_t queue_capacity,
              std::chrono::milliseconds deadline);
  ~BoundedPool();
  BoundedPool(const BoundedPool&) = delete;
  BoundedPool& operator=(const BoundedPool&) = delete;

  // Queues f; false (and the task is dropped) when the queue is full.
  template <class F>
  bool try_spawn(std::string_view name, F&& f,
                 std::source_location site = std::source_location::current()) {
    return executor_->try_spawn(name, std::forward<F>(f), {}, site).has_value();
  }

  std::chrono::milliseconds deadline() const noexcept { return deadline_; }
  void shutdown();

 private:
  std::chrono::milliseconds deadline_;
  std::unique_ptr<syncscope::task::Executor> executor_;
};

}  // namespace syncscope::lab
