// Replacement global operator new/delete that count allocations (see
// alloc_counter.h). The hook path is a thread-local read and one counter
// update: no allocation, no lock, no exception before malloc has answered.
#include "alloc_counter.h"

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <mutex>
#include <new>

namespace syncscope::mapbench {
namespace {

constexpr int kSlots = 1024;  // more concurrent benchmark threads than any run uses

struct alignas(64) Slot {
  // Written only by the thread that owns the slot (or, for the shared slot,
  // by atomic adds); read by allocations_so_far() from any thread.
  std::atomic<std::uint64_t> count{0};
};
static_assert(sizeof(Slot) == 64, "one counter per cache line: owners never share a line");

Slot g_slots[kSlots];
Slot g_shared;                  // threads without a private slot
std::mutex g_slots_mu;          // guards g_in_use
bool g_in_use[kSlots] = {};     // GUARDED_BY(g_slots_mu)
thread_local Slot* t_slot = nullptr;  // this thread's private slot, or nullptr

inline void count_allocation() {
  Slot* slot = t_slot;
  if (slot != nullptr) {
    // relaxed: single writer (the owner); the counter publishes nothing, and
    // readers only need the value eventually (they read after joining).
    slot->count.store(slot->count.load(std::memory_order_relaxed) + 1,
                      std::memory_order_relaxed);
  } else {
    // relaxed: a counter shared by many threads; atomicity is all it needs.
    g_shared.count.fetch_add(1, std::memory_order_relaxed);
  }
}

void* allocate(std::size_t size, std::size_t alignment, bool nothrow) {
  count_allocation();
  if (size == 0) size = 1;
  for (;;) {
    void* p = nullptr;
    if (alignment <= alignof(std::max_align_t)) {
      p = std::malloc(size);
    } else if (posix_memalign(&p, alignment, size) != 0) {
      p = nullptr;
    }
    if (p != nullptr) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) {
      if (nothrow) return nullptr;
      throw std::bad_alloc();
    }
    handler();
  }
}

}  // namespace

std::uint64_t allocations_so_far() {
  // relaxed: the caller reads after a join or before a start flag, which
  // already orders the owners' updates before these loads.
  std::uint64_t total = g_shared.count.load(std::memory_order_relaxed);
  for (const Slot& slot : g_slots) total += slot.count.load(std::memory_order_relaxed);
  return total;
}

ScopedCounterSlot::ScopedCounterSlot() : slot_(-1) {
  std::lock_guard<std::mutex> lock(g_slots_mu);
  for (int i = 0; i < kSlots; ++i) {
    if (!g_in_use[i]) {
      g_in_use[i] = true;
      slot_ = i;
      t_slot = &g_slots[i];  // the mutex orders us after the previous owner's last update
      return;
    }
  }
}

ScopedCounterSlot::~ScopedCounterSlot() {
  if (slot_ < 0) return;
  std::lock_guard<std::mutex> lock(g_slots_mu);
  t_slot = nullptr;
  g_in_use[slot_] = false;
}

}  // namespace syncscope::mapbench


void* operator new(std::size_t n) { return syncscope::mapbench::allocate(n, 0, false); }
void* operator new[](std::size_t n) { return syncscope::mapbench::allocate(n, 0, false); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  return syncscope::mapbench::allocate(n, 0, true);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return syncscope::mapbench::allocate(n, 0, true);
}
void* operator new(std::size_t n, std::align_val_t a) {
  return syncscope::mapbench::allocate(n, static_cast<std::size_t>(a), false);
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return syncscope::mapbench::allocate(n, static_cast<std::size_t>(a), false);
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return syncscope::mapbench::allocate(n, static_cast<std::size_t>(a), true);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return syncscope::mapbench::allocate(n, static_cast<std::size_t>(a), true);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
