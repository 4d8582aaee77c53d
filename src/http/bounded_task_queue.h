// BoundedTaskQueue: the worker pool that runs the debug server's handlers.
// The event loop (mhd_front.h) only parses and writes; every handler runs
// here, so a slow handler never stalls other connections. At most
// `max_queued` jobs wait; try_enqueue() refuses more (the request gets a 503)
// instead of growing the heap. Workers are named "syncscope-http" so thread
// dumps show who they are.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "common/annotated_mutex.h"

namespace syncscope::http::internal {

class BoundedTaskQueue {
 public:
  // PRECONDITION: workers >= 1, max_queued >= 1.
  BoundedTaskQueue(std::size_t workers, std::size_t max_queued);
  // PRECONDITION: shutdown_for() returned true (joined), or it was never
  // called and no job is running. A queue whose drain timed out is leaked by
  // its owner, never destroyed.
  ~BoundedTaskQueue();
  BoundedTaskQueue(const BoundedTaskQueue&) = delete;
  BoundedTaskQueue& operator=(const BoundedTaskQueue&) = delete;

  // False when `max_queued` jobs already wait or shutdown has begun.
  bool try_enqueue(std::function<void()> fn);
  // Runs every queued job, then joins the workers, waiting at most `limit`.
  // True when every worker has exited and been joined; false when a job was
  // still running at the deadline (the workers are then detached and this
  // object must be leaked). Idempotent after a true.
  bool shutdown_for(std::chrono::milliseconds limit);

 private:
  void work();

  const std::size_t max_queued_;
  common::Mutex mu_;
  std::condition_variable not_empty_;        // signalled on push and shutdown
  std::condition_variable worker_exited_;    // signalled when a worker returns
  std::deque<std::function<void()>> jobs_ ABSL_GUARDED_BY(mu_);  // size <= max_queued_
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;              // never reset
  std::size_t live_workers_ ABSL_GUARDED_BY(mu_) = 0;            // workers not yet returned
  std::vector<std::thread> workers_;         // joined (or detached) by shutdown_for()
};

}  // namespace syncscope::http::internal
