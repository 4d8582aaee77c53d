#include "tasks_shim.h"

namespace syncscope::lab {

BoundedPool::BoundedPool(std::string name, unsigned workers, std::size_t queue_capacity,
                         std::chrono::milliseconds deadline)
    : deadline_(deadline) {
  syncscope::task::ExecutorOptions options;
  options.name = std::move(name);
  options.workers = workers;
  options.queue_capacity = queue_capacity;
  options.default_deadline = deadline;
  options.shutdown_grace = std::chrono::seconds(2);
  executor_ = std::make_unique<syncscope::task::Executor>(std::move(options));
}

BoundedPool::~BoundedPool() { shutdown(); }

void BoundedPool::shutdown() {
  if (executor_) executor_->shutdown();
}

}  // namespace syncscope::lab
