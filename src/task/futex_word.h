// Waiting on a 32-bit atomic word through the kernel's futex, with a bound
// on every wait: the join of a task (TaskRecord::done) and the registry's
// shard lock (FutexLock) sleep here instead of on a condition variable or a
// pthread mutex, whose construction, destruction and locking cost a tracked
// task more than the waits they serve (issue 16, item 5).
//
// Contract: futex_wait_for(word, expected, timeout) returns when the word
// no longer holds `expected` (possibly at once), when woken, on a signal, or
// after `timeout`: spuriously, so callers re-check their condition in a
// loop. futex_wake_all/one wake threads waiting on the word. Process-private
// futexes (the words never live in shared memory).
//
// TSan does not see the system call; the ordering that the callers rely on
// is carried by their atomics (each names its pair at the call site).
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>

namespace syncscope::task::internal {

static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t) &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "the kernel reads the futex word as a plain 32-bit integer");

inline std::uint32_t* futex_address(std::atomic<std::uint32_t>& word) noexcept {
  return reinterpret_cast<std::uint32_t*>(&word);
}

inline void futex_wait_for(std::atomic<std::uint32_t>& word, std::uint32_t expected,
                           std::chrono::nanoseconds timeout) noexcept {
  const std::int64_t ns = timeout.count() > 0 ? timeout.count() : 0;
  const timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
  ::syscall(SYS_futex, futex_address(word), FUTEX_WAIT_PRIVATE, expected, &ts, nullptr, 0);
}

inline void futex_wake_all(std::atomic<std::uint32_t>& word) noexcept {
  ::syscall(SYS_futex, futex_address(word), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
}

inline void futex_wake_one(std::atomic<std::uint32_t>& word) noexcept {
  ::syscall(SYS_futex, futex_address(word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

}  // namespace syncscope::task::internal
