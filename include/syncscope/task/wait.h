// Annotated, cancellable waits. Each wrapper marks the calling task blocked
// (with a reason and the address of the object waited on) for the wait's
// duration, and returns early when the task's stop token is signalled
// (cancellation or deadline). Outside a task they are plain waits.
//
// Wait-object addresses (TaskInfo::wait_object), for the retention scanner:
// - condition variables, semaphores, latches: the object's own address;
// - std::future / std::shared_future: the address of the shared state the
//   promise also points to (libstdc++), so "nothing but the waiter reaches
//   the state" means no promise can ever fulfil it. Elsewhere: the future's
//   own address.
//
// Wake-up on cancellation: condition_variable_any and std::stop_token waits
// wake immediately; std::condition_variable waits are notified by a stop
// callback and, to cover the window in which that notification can be lost,
// re-check every kStopPollInterval; futures and semaphores (which have no
// notification hook) poll the stop token every kStopPollInterval.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <future>
#include <mutex>
#include <semaphore>
#include <stop_token>
#include <string_view>

#include "syncscope/task/task_core.h"

namespace syncscope::task {

inline constexpr std::chrono::milliseconds kStopPollInterval{20};

// Address identifying what a future waits on (see the file comment).
template <class T>
std::uintptr_t wait_object_address(const std::future<T>& f) noexcept {
#if defined(__GLIBCXX__)
  // libstdc++: a future's only member is shared_ptr<_State_base>, whose first
  // word is the pointer to the shared state.
  static_assert(sizeof(std::future<T>) == 2 * sizeof(void*), "libstdc++ future layout changed");
  std::uintptr_t state = 0;
  std::memcpy(&state, static_cast<const void*>(&f), sizeof state);
  return state;
#else
  return reinterpret_cast<std::uintptr_t>(&f);
#endif
}
template <class T>
std::uintptr_t wait_object_address(const std::shared_future<T>& f) noexcept {
#if defined(__GLIBCXX__)
  static_assert(sizeof(std::shared_future<T>) == 2 * sizeof(void*), "libstdc++ future layout changed");
  std::uintptr_t state = 0;
  std::memcpy(&state, static_cast<const void*>(&f), sizeof state);
  return state;
#else
  return reinterpret_cast<std::uintptr_t>(&f);
#endif
}

namespace internal {
// Marks the current task blocked on an address given as an integer.
BlockingScope blocking_on(std::string_view reason, std::uintptr_t object) noexcept;
// Registers cv.notify_all() as a stop callback on the current task's token
// for the scope's lifetime (no-op outside a task).
class NotifyOnStop {
 public:
  explicit NotifyOnStop(std::condition_variable& cv);
  NotifyOnStop(const NotifyOnStop&) = delete;
  NotifyOnStop& operator=(const NotifyOnStop&) = delete;
 private:
  struct Notify {
    std::condition_variable* cv;
    void operator()() const noexcept { cv->notify_all(); }
  };
  std::stop_callback<Notify> callback_;
};
}  // namespace internal

// Waits until pred() holds. Returns pred()'s final value: false means the
// task was asked to stop before the condition came true. `lock` must hold
// the mutex that guards the condition, as for cv.wait.
template <class Pred>
bool wait(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, Pred pred,
          std::string_view reason = "condition_variable") {
  auto scope = internal::blocking_on(reason, reinterpret_cast<std::uintptr_t>(&cv));
  std::stop_token stop = this_task::stop_token();
  internal::NotifyOnStop notifier(cv);
  while (!pred()) {
    if (stop.stop_requested()) return false;
    cv.wait_for(lock, kStopPollInterval);
  }
  return true;
}

// As wait(), giving up after `timeout` (returns pred()'s value then).
template <class Pred, class Rep, class Period>
bool wait_for(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
              std::chrono::duration<Rep, Period> timeout, Pred pred,
              std::string_view reason = "condition_variable") {
  auto scope = internal::blocking_on(reason, reinterpret_cast<std::uintptr_t>(&cv));
  std::stop_token stop = this_task::stop_token();
  internal::NotifyOnStop notifier(cv);
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout);
  while (!pred()) {
    const auto now = Clock::now();
    if (stop.stop_requested() || now >= until) return pred();
    cv.wait_for(lock, std::min<Clock::duration>(until - now, kStopPollInterval));
  }
  return true;
}

template <class Lock, class Pred>
bool wait(std::condition_variable_any& cv, Lock& lock, Pred pred,
          std::string_view reason = "condition_variable_any") {
  auto scope = internal::blocking_on(reason, reinterpret_cast<std::uintptr_t>(&cv));
  return cv.wait(lock, this_task::stop_token(), std::move(pred));
}

// Waits for the future to become ready: true when ready, false when the
// task was asked to stop first. Does not call get().
template <class T>
bool wait(const std::future<T>& f, std::string_view reason = "future") {
  auto scope = internal::blocking_on(reason, wait_object_address(f));
  std::stop_token stop = this_task::stop_token();
  if (!stop.stop_possible()) {
    f.wait();
    return true;
  }
  while (f.wait_for(kStopPollInterval) != std::future_status::ready) {
    if (stop.stop_requested()) return false;
  }
  return true;
}

template <class T>
bool wait(const std::shared_future<T>& f, std::string_view reason = "shared_future") {
  auto scope = internal::blocking_on(reason, wait_object_address(f));
  std::stop_token stop = this_task::stop_token();
  if (!stop.stop_possible()) {
    f.wait();
    return true;
  }
  while (f.wait_for(kStopPollInterval) != std::future_status::ready) {
    if (stop.stop_requested()) return false;
  }
  return true;
}

// Acquires one unit: true when acquired, false when asked to stop first.
template <std::ptrdiff_t N>
bool acquire(std::counting_semaphore<N>& sem, std::string_view reason = "semaphore") {
  auto scope = internal::blocking_on(reason, reinterpret_cast<std::uintptr_t>(&sem));
  std::stop_token stop = this_task::stop_token();
  if (!stop.stop_possible()) {
    sem.acquire();
    return true;
  }
  while (!sem.try_acquire_for(kStopPollInterval)) {
    if (stop.stop_requested()) return false;
  }
  return true;
}

// Locks `mu`, annotated (for contended locks worth seeing in a dump).
// Not cancellable: a mutex cannot be abandoned half-way.
template <class Mutex>
std::unique_lock<Mutex> lock(Mutex& mu, std::string_view reason = "mutex") {
  std::unique_lock<Mutex> l(mu, std::try_to_lock);
  if (l.owns_lock()) return l;
  auto scope = internal::blocking_on(reason, reinterpret_cast<std::uintptr_t>(&mu));
  l.lock();
  return l;
}

}  // namespace syncscope::task
