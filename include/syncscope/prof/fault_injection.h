// Test-only allocation-failure injection through syncscope's allocation
// hooks: makes a chosen allocation fail, so a test of any part can check that
// running out of memory gives an error (an exception, a status, a dropped and
// counted record), never a crash, a hang or a silently lost record.
//
//   #include "syncscope/prof/fault_injection.h"
//   namespace fi = syncscope::prof::fault_injection;
//   {
//     fi::ScopedFault fault({.skip = 2});     // the 3rd allocation on this thread fails
//     EXPECT_THROW(map.store(k, v), std::bad_alloc);
//     EXPECT_EQ(fault.injected(), 1u);        // and the failure really happened
//   }
//
// What a failed allocation looks like (Target::kHeap), exactly as when glibc
// runs out of memory: malloc, calloc, realloc (the old block stays valid),
// reallocarray, memalign, aligned_alloc, valloc and pvalloc return nullptr
// with errno = ENOMEM; posix_memalign returns ENOMEM; throwing operator new
// runs the new-handler (then allocates for real) or throws std::bad_alloc;
// nothrow operator new returns nullptr. Every request counts, including the
// standard library's, other libraries' and the profiler's own (symbolizer,
// profile writer): choose `skip` by sweeping it (see tests/prof/
// fault_injection_test.cc), not by counting allocations by hand.
// Target::kProfilerPages fails the mmap behind the profiler's own tables
// (stack table, sampled heap, live-block table and its freeze snapshot).
//
// Thread safety: arm() and disarm() are meant for one test thread at a time;
// hooks on other threads may run concurrently and see the old or the new
// plan. The unarmed cost is one load per allocation.
//
// When not to use: in production code; in sanitizer builds (no interposers:
// arm() of kHeap returns false and nothing fails; skip the test then).
#pragma once

#include <cstddef>
#include <cstdint>

namespace syncscope::prof::fault_injection {

enum class Target : std::uint8_t {
  kHeap,           // malloc/new and friends (see the file comment)
  kProfilerPages,  // the profiler's own mmap'ed tables
};

inline constexpr std::uint64_t kUnlimited = ~std::uint64_t{0};

struct FaultPlan {
  Target target = Target::kHeap;
  // Matching requests that succeed before failures start: skip = N - 1
  // fails the Nth matching request.
  std::uint64_t skip = 0;
  // Matching requests that fail after the skipped ones (kUnlimited: all).
  std::uint64_t failures = 1;
  // kHeap only: match only requests of exactly this many bytes (0: any).
  std::size_t size = 0;
  // Match only requests made by the thread that called arm().
  bool calling_thread_only = true;
};

// Arms `plan`, replacing any armed one and resetting injected(). Returns
// false (and arms nothing) when the target cannot fail in this build.
bool arm(const FaultPlan& plan) noexcept;
// No more failures. Idempotent.
void disarm() noexcept;
// Failures injected since the last arm().
std::uint64_t injected() noexcept;

// RAII: arm() in the constructor, disarm() in the destructor.
class ScopedFault {
 public:
  explicit ScopedFault(const FaultPlan& plan) noexcept : available_(arm(plan)) {}
  ~ScopedFault() { disarm(); }
  ScopedFault(const ScopedFault&) = delete;
  ScopedFault& operator=(const ScopedFault&) = delete;

  // Whether the plan is armed (false: this build cannot inject it).
  bool available() const noexcept { return available_; }
  std::uint64_t injected() const noexcept { return fault_injection::injected(); }

 private:
  bool available_;
};

}  // namespace syncscope::prof::fault_injection
