// A task's stop source whose std::stop_source state (one heap block) is
// created only when someone needs it: a task function that takes a
// std::stop_token, this_task::stop_token() (every wait wrapper calls it), or
// a requester that needs a copy to request outside its locks. A request made
// before then is remembered and applied when the state is created. So a task
// that never asks for its token allocates no stop state and frees none on
// another thread (issue 16, item 5: about 400 instructions per task).
//
// Contract: the same observable behaviour as a std::stop_source owned by
// the task: request_stop() returns true for exactly one request, and every
// token handed out, and stop_requested(), see a request made before or after
// they were taken.
//
// Implementation notes: `requested_` is set by every request; `ready_`
// publishes `source_`, which is written once under `mu_` and never again.
// A request finding the state ready requests on a copy outside `mu_` (stop
// callbacks run synchronously and may take other locks); one finding it
// absent only sets `requested_`, and the creator, under `mu_`, requests on
// the fresh state (no callback can be registered on it yet). Both paths take
// `mu_`, so exactly one of them sees the other.
//
// Hazard: creating the state allocates, so after an allocation failure
// get_token() throws std::bad_alloc where the eager source had failed the
// spawn instead (this_task::stop_token() is noexcept and terminates then).
#pragma once

#include <atomic>
#include <mutex>
#include <stop_token>

#include "task/futex_lock.h"

namespace syncscope::task::internal {

class LazyStopSource {
 public:
  // A copy sharing the state (created now if absent); request_stop() on it
  // is seen by this object.
  std::stop_source shared_source() {
    std::lock_guard lock(mu_);
    // relaxed: mu_ orders it against the other writer of ready_.
    if (!ready_.load(std::memory_order_relaxed)) {
      source_ = std::stop_source();
      // relaxed: written under mu_ by request_stop(), read under mu_ here.
      if (requested_.load(std::memory_order_relaxed)) source_.request_stop();
      // release: publishes source_ to stop_requested(); pairs with [LS1].
      ready_.store(true, std::memory_order_release);
    }
    return source_;
  }
  std::stop_token get_token() { return shared_source().get_token(); }

  // Requests stop; true if this call made the request. Never allocates.
  bool request_stop() noexcept {
    std::stop_source ready(std::nostopstate);
    bool first = false;
    {
      std::lock_guard lock(mu_);
      // seq_cst exchange: under mu_; stop_requested() reads it without mu_ (a flag).
      first = !requested_.exchange(true);
      // relaxed: under mu_, which ordered the write of source_.
      if (ready_.load(std::memory_order_relaxed)) ready = source_;
    }
    // Outside mu_: the state's own request runs the callbacks and decides
    // whether this was the first request on it.
    return ready.stop_possible() ? ready.request_stop() : first;
  }

  bool stop_requested() const noexcept {
    // acquire: [LS1], pairs with the release in shared_source(); source_ is
    // immutable once ready_ is true. A request made on a shared copy sets
    // only the state, so both are read.
    if (ready_.load(std::memory_order_acquire)) return source_.stop_requested();
    // relaxed: a flag; a request racing with this read may or may not be seen.
    return requested_.load(std::memory_order_relaxed);
  }

 private:
  FutexLock mu_;  // 4 bytes, constructed per task (futex_lock.h)
  // Set once (release, under mu_) after source_ is written; never reset.
  std::atomic<bool> ready_{false};
  // Set by every request_stop(), under mu_; once ready_, source_ holds it too.
  std::atomic<bool> requested_{false};
  // The state; nostopstate until ready_. Written once under mu_.
  std::stop_source source_{std::nostopstate};
};

}  // namespace syncscope::task::internal
