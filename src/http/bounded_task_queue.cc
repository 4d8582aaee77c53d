#include "http/bounded_task_queue.h"

#include <pthread.h>

#include <utility>

namespace syncscope::http::internal {

BoundedTaskQueue::BoundedTaskQueue(std::size_t workers, std::size_t max_queued)
    : max_queued_(max_queued) {
  workers_.reserve(workers);
  live_workers_ = workers;
  for (std::size_t i = 0; i < workers; ++i) {
    workers_.emplace_back([this] { work(); });
  }
}

BoundedTaskQueue::~BoundedTaskQueue() { shutdown_for(std::chrono::hours(1)); }

bool BoundedTaskQueue::try_enqueue(std::function<void()> fn) {
  {
    common::MutexLock lock(mu_);
    if (shutting_down_ || jobs_.size() >= max_queued_) return false;
    jobs_.push_back(std::move(fn));
  }
  not_empty_.notify_one();
  return true;
}

bool BoundedTaskQueue::shutdown_for(std::chrono::milliseconds limit) {
  {
    common::UniqueLock lock(mu_);
    shutting_down_ = true;
    not_empty_.notify_all();
    if (!worker_exited_.wait_for(lock.std_lock(), limit,
                                 [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return live_workers_ == 0; })) {
      for (std::thread& t : workers_) {
        if (t.joinable()) t.detach();
      }
      return false;
    }
  }
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  return true;
}

void BoundedTaskQueue::work() {
  // Best effort: the name is only for thread dumps (15 chars max on Linux).
  pthread_setname_np(pthread_self(), "syncscope-http");
  for (;;) {
    std::function<void()> job;
    {
      common::UniqueLock lock(mu_);
      not_empty_.wait(lock.std_lock(),
                      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return shutting_down_ || !jobs_.empty(); });
      // Drain queued jobs even when shutting down: each one resumes a
      // suspended connection, which must happen before the loop stops.
      if (jobs_.empty()) {
        --live_workers_;
        worker_exited_.notify_all();
        return;
      }
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

}  // namespace syncscope::http::internal
