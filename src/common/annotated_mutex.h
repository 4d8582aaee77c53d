// std::mutex as clang's thread-safety analysis (-Wthread-safety) sees it:
// the same lock, with abseil's capability annotations, so that fields marked
// ABSL_GUARDED_BY(mu_) and functions marked ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_)
// are checked at compile time instead of being prose. std::mutex itself
// carries no annotations in libstdc++, so the analysis sees nothing of it.
//
// Why not absl::Mutex: the parts that use these run where absl's mutex cannot
// (the LD_PRELOAD object's core loads no absl library) or wait with
// std::condition_variable through the task API's annotated waits
// (syncscope/task/wait.h), which take a std::unique_lock<std::mutex>.
// Header-only; only the annotation macros come from abseil.
//
// Use
//   Mutex mu_;
//   int n_ ABSL_GUARDED_BY(mu_);
//   { MutexLock lock(mu_); ++n_; }                      // std::lock_guard
//   UniqueLock lock(mu_);                                // std::unique_lock
//   cv_.wait(lock.std_lock(), [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ready_; });
#pragma once

#include <mutex>

#include "absl/base/thread_annotations.h"

namespace syncscope::common {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return mu_.try_lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  friend class UniqueLock;
  std::mutex mu_;
};

// std::lock_guard over a Mutex.
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

// std::unique_lock over a Mutex, for condition-variable waits. A wait on
// std_lock() gives the mutex up and takes it again before it returns, so to
// the analysis the mutex stays held throughout. A wait predicate reads
// guarded state: give the lambda ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) (it runs
// with the mutex held), so the analysis checks its body.
class ABSL_SCOPED_LOCKABLE UniqueLock {
 public:
  explicit UniqueLock(Mutex& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : lock_(mu.mu_) {}
  ~UniqueLock() ABSL_UNLOCK_FUNCTION() {}
  UniqueLock(const UniqueLock&) = delete;
  UniqueLock& operator=(const UniqueLock&) = delete;

  // Releases early / takes again (as std::unique_lock's).
  void unlock() ABSL_UNLOCK_FUNCTION() { lock_.unlock(); }
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { lock_.lock(); }

  std::unique_lock<std::mutex>& std_lock() { return lock_; }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace syncscope::common
