// The global operator new/delete forms with a per-thread failure countdown
// (see failing_new.h); the forms themselves are tests/support's
// replaced_new_forms.cc. Blocks come from malloc and posix_memalign and go
// back to free, so every form pairs with every other.
#include "conformance/failing_new.h"

#include <cstdlib>
#include <new>

#include "support/replaced_new.h"

namespace syncscope::map::testing {
namespace {

// Allocations left before the armed failure on this thread; <= 0: disarmed.
thread_local long tls_countdown = 0;

bool should_fail() noexcept { return tls_countdown > 0 && --tls_countdown == 0; }

}  // namespace

void fail_nth_allocation(long n) noexcept { tls_countdown = n > 0 ? n : 0; }
bool allocation_failure_pending() noexcept { return tls_countdown > 0; }

}  // namespace syncscope::map::testing

namespace syncscope::test_support::replaced_new {

void* allocate(std::size_t n) noexcept {
  return map::testing::should_fail() ? nullptr : malloc_block(n);
}
void* allocate_aligned(std::size_t n, std::align_val_t al) noexcept {
  return map::testing::should_fail() ? nullptr : aligned_block(n, al);
}
void release(void* p) noexcept { std::free(p); }

}  // namespace syncscope::test_support::replaced_new
