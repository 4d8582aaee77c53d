#include "http/bounded_task_queue.h"

#include <pthread.h>

#include <utility>

namespace syncscope::http::internal {

BoundedTaskQueue::BoundedTaskQueue(std::size_t workers, std::size_t max_queued)
    : max_queued_(max_queued) {
  workers_.reserve(workers);
  for (std::size_t i = 0; i < workers; ++i) {
    workers_.emplace_back([this] { work(); });
  }
}

BoundedTaskQueue::~BoundedTaskQueue() { shutdown(); }

void BoundedTaskQueue::enqueue(std::function<void()> fn) {
  std::unique_lock lock(mu_);
  not_full_.wait(lock, [&] { return shutting_down_ || jobs_.size() < max_queued_; });
  if (shutting_down_) return;
  jobs_.push_back(std::move(fn));
  lock.unlock();
  not_empty_.notify_one();
}

void BoundedTaskQueue::shutdown() {
  {
    std::lock_guard lock(mu_);
    shutting_down_ = true;
  }
  not_empty_.notify_all();
  not_full_.notify_all();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
}

void BoundedTaskQueue::work() {
  // Best effort: the name is only for thread dumps (15 chars max on Linux).
  pthread_setname_np(pthread_self(), "syncscope-http");
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu_);
      not_empty_.wait(lock, [&] { return shutting_down_ || !jobs_.empty(); });
      // Drain queued connections even when shutting down: each holds an
      // accepted socket that the job closes.
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    not_full_.notify_one();
    job();
  }
}

}  // namespace syncscope::http::internal
