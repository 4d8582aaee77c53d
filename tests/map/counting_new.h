// Live-heap accounting for map_memory_test: this executable replaces every
// form of global operator new/delete (counting_new.cc) and counts the usable
// bytes of every block they hand out. malloc() called directly is not counted;
// the maps allocate only through operator new (std::allocator, new T).
#pragma once

#include <cstdint>

namespace syncscope::map::testing {

// Bytes currently allocated through operator new and not yet deleted.
std::int64_t live_heap_bytes();
// Blocks currently allocated through operator new and not yet deleted.
std::int64_t live_heap_blocks();
// Blocks allocated through operator new since the program started.
std::int64_t total_allocations();

}  // namespace syncscope::map::testing
