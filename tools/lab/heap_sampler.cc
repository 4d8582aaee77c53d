#include "heap_sampler.h"

#include <pthread.h>

#include <condition_variable>

#include "heap_source.h"


namespace syncscope::lab {

HeapSampler::HeapSampler(std::function<void(const HeapSample&)> on_sample)
    : on_sample_(std::move(on_sample)), thread_([this](const std::stop_token& st) { run(st); }) {}

HeapSampler::~HeapSampler() { stop(); }

void HeapSampler::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

std::vector<HeapSample> HeapSampler::samples() const {
  const absl::MutexLock lock(&mu_);
  return samples_;
}

void HeapSampler::run(const std::stop_token& stop) {
  pthread_setname_np(pthread_self(), "lab-heap-sample");
  const heap::OwnMemoryScope own;  // the samples are the lab's, not the workload's
  std::mutex sleep_mu;
  std::condition_variable_any sleep_cv;
  auto next = Clock::now();
  while (!stop.stop_requested()) {
    const HeapSample s{std::chrono::duration<double>(Clock::now() - t0_).count(), heap::live_bytes()};
    {
      const absl::MutexLock lock(&mu_);
      samples_.push_back(s);
    }
    if (on_sample_) on_sample_(s);
    next += kInterval;
    std::unique_lock lk(sleep_mu);
    sleep_cv.wait_until(lk, stop, next, [] { return false; });
  }
}

}  // namespace syncscope::lab
