// A pthread mutex with the interface std::lock_guard needs, constant
// initialized. std::mutex would do the same, but its lock() reports errors
// by throwing (std::__throw_system_error), which the LD_PRELOAD core object,
// built without exceptions and without the C++ runtime, cannot link
// (issue 16, item 1). Errors of pthread_mutex_lock on a default mutex are
// programming errors (EDEADLK is not even detected for it); none is reported.
#pragma once

#include <pthread.h>

namespace syncscope::prof::internal {

class PlainMutex {
 public:
  constexpr PlainMutex() = default;
  PlainMutex(const PlainMutex&) = delete;
  PlainMutex& operator=(const PlainMutex&) = delete;

  void lock() noexcept { pthread_mutex_lock(&m_); }
  bool try_lock() noexcept { return pthread_mutex_trylock(&m_) == 0; }
  void unlock() noexcept { pthread_mutex_unlock(&m_); }
  // In a fork child, for a mutex another thread of the parent may have held
  // at the fork: unlocked again, whatever its state.
  void reset_in_child() noexcept { m_ = PTHREAD_MUTEX_INITIALIZER; }

 private:
  pthread_mutex_t m_ = PTHREAD_MUTEX_INITIALIZER;
};

}  // namespace syncscope::prof::internal
