// Test-local replacement of every global operator new/delete form, counting
// live bytes and blocks (see counting_new.h). Deliberately not syncscope::prof:
// the memory test must measure the maps with nothing but the allocator under
// it. Blocks come from malloc/posix_memalign; sizes are malloc_usable_size,
// taken the same way at allocation and release so the sums balance.
#include "map/counting_new.h"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <new>

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

void release(void* p) noexcept {
  if (p == nullptr) return;
  g_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
  g_blocks.fetch_sub(1, std::memory_order_relaxed);
  std::free(p);
}

void* allocate(std::size_t n) noexcept { return counted(std::malloc(n == 0 ? 1 : n)); }

void* allocate_aligned(std::size_t n, std::align_val_t al) noexcept {
  void* p = nullptr;
  std::size_t a = static_cast<std::size_t>(al);
  if (a < sizeof(void*)) a = sizeof(void*);
  if (posix_memalign(&p, a, n == 0 ? 1 : n) != 0) return nullptr;
  return counted(p);
}

}  // namespace

std::int64_t live_heap_bytes() { return g_bytes.load(std::memory_order_relaxed); }
std::int64_t live_heap_blocks() { return g_blocks.load(std::memory_order_relaxed); }
std::int64_t total_allocations() { return g_allocations.load(std::memory_order_relaxed); }

}  // namespace syncscope::map::testing

using syncscope::map::testing::allocate;
using syncscope::map::testing::allocate_aligned;
using syncscope::map::testing::release;

void* operator new(std::size_t n) {
  if (void* p = allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return allocate(n); }
void* operator new(std::size_t n, std::align_val_t al) {
  if (void* p = allocate_aligned(n, al)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t al) {
  if (void* p = allocate_aligned(n, al)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  return allocate_aligned(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al, const std::nothrow_t&) noexcept {
  return allocate_aligned(n, al);
}

void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
