// The recording side of the allocation hooks: what malloc/free/new/delete
// call after (allocation) or before (free) the real glibc function.
//
// Contract of the hook path (DESIGN §3): no malloc, no exception, no lock held
// across a call that may allocate, no recursion (tls_state.hook_depth), and
// valid from the first allocation of the process to the last (all state is
// constant-initialized and trivially destructible; tables are mmap'ed).
#pragma once

#include <cstddef>
#include <cstdint>

namespace syncscope::prof::internal {

// Frames between capture_stack's caller and the allocating user code:
// record_alloc_slow, on_alloc, the interposed function (malloc, new, ...).
inline constexpr int kHookFrames = 3;

// After a successful allocation of `requested` bytes at p.
void on_alloc(void* p, std::size_t requested) noexcept;
// Before p (non-null) goes back to glibc.
void on_free(void* p) noexcept;

// glibc's malloc_usable_size for an in-use chunk, read from the chunk header
// (the exported function is weak in libc and interposed by us).
inline std::size_t usable_size(const void* p) noexcept {
  if (p == nullptr) return 0;
  const std::size_t head = static_cast<const std::size_t*>(p)[-1];
  const std::size_t chunk = head & ~std::size_t{7};  // low bits: PREV_INUSE, IS_MMAPPED, NON_MAIN_ARENA
  return (head & 2) != 0 ? chunk - 2 * sizeof(std::size_t) : chunk - sizeof(std::size_t);
}

// Configuration (called from HeapProfiler / LiveBlockTable, never from hooks).
void set_sampling(bool on, std::int64_t rate) noexcept;
bool sampling() noexcept;
std::int64_t sample_rate() noexcept;
void set_exact_mode(bool on) noexcept;
std::uint64_t samples_taken() noexcept;
// pthread_atfork handlers for every lock of the hook path (idempotent).
void install_fork_handlers() noexcept;
// Whether the interposers are linked in (false in sanitizer builds).
bool hooks_linked() noexcept;

// Unbiased weight of a sampled allocation: 1/P(sampled) = 1/(1-exp(-size/rate)).
double sample_weight(std::size_t size, std::int64_t rate) noexcept;

}  // namespace syncscope::prof::internal
