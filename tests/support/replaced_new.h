// One replacement of every global operator new/delete form, for the tests
// that must see or steer each allocation themselves (a failure countdown, a
// live-byte count). replaced_new_forms.cc defines the operators in terms of
// the three functions below, which the test's own .cc defines; a test target
// lists both files among its SOURCES (never a library: the replacement would
// reach every test that links it).
#pragma once

#include <cstddef>
#include <new>

namespace syncscope::test_support::replaced_new {

// Defined by the test. A null return makes the throwing forms throw
// std::bad_alloc and the nothrow forms return null.
void* allocate(std::size_t n) noexcept;
void* allocate_aligned(std::size_t n, std::align_val_t al) noexcept;
void release(void* p) noexcept;  // p may be null

// The blocks underneath, for those definitions: malloc and posix_memalign
// (zero sizes as one byte, alignment at least a pointer's), so that every
// form can be given back to free whichever form allocated it.
void* malloc_block(std::size_t n) noexcept;
void* aligned_block(std::size_t n, std::align_val_t al) noexcept;

}  // namespace syncscope::test_support::replaced_new
