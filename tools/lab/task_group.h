// The tasks a workload spawns, as one group: each is counted from spawn until
// its body returns, all are released together, and stop() waits for them
// with a bound. Every workload's start()/stop() is built from this.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <source_location>
#include <string_view>
#include <thread>
#include <utility>

#include "tasks_shim.h"

namespace syncscope::lab {

class TaskGroup {
 public:
  TaskGroup() = default;
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  // Runs f() as a task named `name` (spawn site: the caller). False if no
  // thread could be started; then nothing is counted.
  template <class F>
  bool spawn(std::string_view name, F f, std::source_location site = std::source_location::current()) {
    return spawn_with([&](auto body) { return go(name, std::move(body), site); }, std::move(f));
  }

  // As spawn, started by start(body) -> bool (e.g. a pool's try_spawn).
  template <class Start, class F>
  bool spawn_with(Start&& start, F f) {
    // acq_rel: see active_ (the increment only needs to precede the start).
    active_.fetch_add(1, std::memory_order_acq_rel);
    const bool started = start([this, f = std::move(f)]() mutable {
      const Member member(active_);
      f();
    });
    if (!started) active_.fetch_sub(1, std::memory_order_acq_rel);  // acq_rel: see active_
    return started;
  }

  // From now on released() is true: loops and waits of the group end.
  void release() noexcept { released_.store(true, std::memory_order_release); }  // release: see released_
  bool released() const noexcept { return released_.load(std::memory_order_acquire); }  // acquire: see released_

  // Waits until every task returned, at most `bound`; true when all did
  // (false: some task still runs, so its owner must outlive it).
  bool wait_all(std::chrono::milliseconds bound) const {
    const auto until = std::chrono::steady_clock::now() + bound;
    // acquire: see active_.
    while (active_.load(std::memory_order_acquire) > 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return active_.load(std::memory_order_acquire) == 0;  // acquire: see active_
  }

 private:
  // Decrements the count when a task's body returns (or throws).
  class Member {
   public:
    explicit Member(std::atomic<std::int64_t>& n) : n_(n) {}
    ~Member() { n_.fetch_sub(1, std::memory_order_acq_rel); }  // acq_rel: see active_
    Member(const Member&) = delete;
    Member& operator=(const Member&) = delete;

   private:
    std::atomic<std::int64_t>& n_;
  };

  // Set once by release(); every loop and wait of the group ends when it
  // sees it. release/acquire: a task that sees it must also see its owner
  // still alive (the owner waits in wait_all before it goes away).
  std::atomic<bool> released_{false};
  // Tasks spawned and not yet returned. acq_rel on the decrement, acquire on
  // the read: a task's last access to its owner happens-before wait_all
  // sees the count drop.
  std::atomic<std::int64_t> active_{0};
};

}  // namespace syncscope::lab
