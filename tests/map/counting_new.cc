// Test-local replacement of every global operator new/delete form, counting
// live bytes and blocks (see counting_new.h); the forms themselves are
// tests/support's replaced_new_forms.cc. Deliberately not syncscope::prof:
// the memory test must measure the maps with nothing but the allocator under
// it. Blocks come from malloc/posix_memalign; sizes are malloc_usable_size,
// taken the same way at allocation and release so the sums balance.
#include "map/counting_new.h"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "support/replaced_new.h"

namespace syncscope::map::testing {
namespace {

// relaxed everywhere: pure counters, read after the threads that allocate
// have been joined or while the test knows they are idle.
std::atomic<std::int64_t> g_bytes{0};
std::atomic<std::int64_t> g_blocks{0};
std::atomic<std::int64_t> g_allocations{0};  // every block ever handed out

void* counted(void* p) {
  if (p != nullptr) {
    g_bytes.fetch_add(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
    g_blocks.fetch_add(1, std::memory_order_relaxed);
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  return p;
}

}  // namespace

std::int64_t live_heap_bytes() { return g_bytes.load(std::memory_order_relaxed); }
std::int64_t live_heap_blocks() { return g_blocks.load(std::memory_order_relaxed); }
std::int64_t total_allocations() { return g_allocations.load(std::memory_order_relaxed); }

}  // namespace syncscope::map::testing

namespace syncscope::test_support::replaced_new {

void* allocate(std::size_t n) noexcept { return map::testing::counted(malloc_block(n)); }
void* allocate_aligned(std::size_t n, std::align_val_t al) noexcept {
  return map::testing::counted(aligned_block(n, al));
}
void release(void* p) noexcept {
  if (p == nullptr) return;
  map::testing::g_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
  map::testing::g_blocks.fetch_sub(1, std::memory_order_relaxed);
  std::free(p);
}

}  // namespace syncscope::test_support::replaced_new
