// BoundedTaskQueue: the worker pool behind DebugServer. cpp-httplib's own
// ThreadPool queues accepted connections without limit; this one holds at
// most `max_queued` and then makes the accept thread wait, so a flood of
// connections backs up into the kernel's listen backlog instead of into our
// heap. Workers are named "syncscope-http" so thread dumps show who they are.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>

namespace syncscope::http::internal {

class BoundedTaskQueue final : public httplib::TaskQueue {
 public:
  // PRECONDITION: workers >= 1, max_queued >= 1.
  BoundedTaskQueue(std::size_t workers, std::size_t max_queued);
  ~BoundedTaskQueue() override;

  // Blocks while the queue is full (back-pressure on the accept loop).
  // After shutdown() the job is dropped, which closes nothing: httplib only
  // enqueues before it calls shutdown().
  void enqueue(std::function<void()> fn) override;
  // Runs every queued job, then joins the workers. Idempotent.
  void shutdown() override;

 private:
  void work();

  const std::size_t max_queued_;
  std::mutex mu_;
  std::condition_variable not_empty_;        // signalled on push and shutdown
  std::condition_variable not_full_;         // signalled on pop
  std::deque<std::function<void()>> jobs_;   // guarded by mu_; size <= max_queued_
  bool shutting_down_ = false;               // guarded by mu_; never reset
  std::vector<std::thread> workers_;         // joined by shutdown()
};

}  // namespace syncscope::http::internal
