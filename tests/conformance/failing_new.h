// Allocation-failure injection for the map suites: the executable that links
// failing_new.cc replaces every global operator new/delete form, and a test
// can make the n-th allocation of the calling thread fail (std::bad_alloc, or
// nullptr for the nothrow forms). Other threads are never affected.
#pragma once

namespace syncscope::map::testing {

// The n-th operator new on this thread from now (n >= 1) fails; n <= 0
// disarms.
void fail_nth_allocation(long n) noexcept;

// Whether an armed failure has not fired yet on this thread.
bool allocation_failure_pending() noexcept;

}  // namespace syncscope::map::testing
