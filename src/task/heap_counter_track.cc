#include "task/heap_counter_track.h"

#include <pthread.h>

#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>
#include <utility>

#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/untracked_scope.h"
#include "syncscope/task/trace.h"

namespace syncscope::task::internal {
namespace {

struct Track {
  std::mutex mu;          // serializes start/stop
  std::jthread sampler;   // guarded by mu; not joinable when no track is sampled
};

Track& track() {
  static Track* t = new Track;  // leaked: tracing may stop during static destruction
  return *t;
}

void sample_until_stopped(const std::stop_token& stop, std::chrono::milliseconds interval) {
  pthread_setname_np(pthread_self(), "trace-heap");
  const prof::UntrackedScope untracked;  // the recorder's own allocations are not the program's heap
  std::mutex sleep_mu;
  std::condition_variable_any sleep_cv;
  auto next = std::chrono::steady_clock::now();
  while (!stop.stop_requested()) {
    if (tracing_enabled()) {
      record_counter(kHeapCounterTrack, static_cast<double>(prof::HeapProfiler::counters().live_bytes));
    }
    next += interval;
    std::unique_lock lock(sleep_mu);
    sleep_cv.wait_until(lock, stop, next, [] { return false; });  // wakes at once on stop
  }
}

// Caller holds t.mu.
void stop_locked(Track& t) {
  if (!t.sampler.joinable()) return;
  t.sampler.request_stop();
  t.sampler.join();
}

}  // namespace

void start_heap_counter_track(std::chrono::milliseconds interval) {
  Track& t = track();
  std::lock_guard lock(t.mu);
  stop_locked(t);
  if (interval <= std::chrono::milliseconds::zero() || !prof::HeapProfiler::hooks_installed()) return;
  try {
    t.sampler = std::jthread([interval](const std::stop_token& stop) { sample_until_stopped(stop, interval); });
  } catch (const std::system_error&) {
    // No thread: the trace goes without its heap track rather than failing.
  }
}

void stop_heap_counter_track() {
  Track& t = track();
  std::lock_guard lock(t.mu);
  stop_locked(t);
}

}  // namespace syncscope::task::internal
