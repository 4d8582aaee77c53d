// A frame the shape walk (src/prof/shape_unwind) refuses: its stack is
// realigned and has a variable-sized part, so GCC reaches the frame through
// a copy of the incoming rsp (DRAP, r10) and gives its CFA as a DWARF
// expression. Stacks walked from below it take capture_stack's other walks.
#pragma once

#include <alloca.h>

#include <cstddef>

namespace syncscope::test_support {

// Calls leaf(arg) from such a frame.
__attribute__((noinline)) inline void call_below_refused_frame(void (*leaf)(void*), void* arg) {
  alignas(64) volatile char block[64] = {};
  // Sized at run time: a constant alloca would be folded into a fixed frame.
  volatile std::size_t size = 24;
  auto* room = static_cast<volatile char*>(alloca(size));
  room[0] = 1;
  leaf(arg);
  asm volatile("" : : "r"(block), "r"(room) : "memory");  // keep both, and the call out of tail position
}

}  // namespace syncscope::test_support
