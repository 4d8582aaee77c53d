#include "prof/thread_state.h"

#include <pthread.h>

namespace syncscope::prof::internal {

__thread ThreadState tls_state __attribute__((tls_model("initial-exec")));

namespace {

// Slot 0 is the shared slot (constant-initialized, so valid before main).
CounterSlot g_slots[kCounterSlots] = {{.shared = true}};

std::atomic<int> g_key_state{0};  // 0 = not created, 1 = creating, 2 = ready, 3 = failed
pthread_key_t g_key;               // valid once g_key_state == 2

// Thread exit: hand the slot back; later allocations of this thread (other
// destructors still run) go to the shared slot.
void release_slot(void* p) {
  auto* slot = static_cast<CounterSlot*>(p);
  tls_state.exiting = true;
  set_owned_slot(tls_state, nullptr);
  // release: the next owner's plain load+store continues from our totals
  // (pairs with the acquire CAS in claim_slot).
  slot->owner.store(0, std::memory_order_release);
}

bool ensure_key() noexcept {
  // acquire: g_key is valid once 2 is seen (pairs with the release below).
  int state = g_key_state.load(std::memory_order_acquire);
  while (state != 2) {
    if (state == 3) return false;
    int expected = 0;
    // acquire/relaxed: only the winner writes g_key; losers re-poll.
    if (state == 0 && g_key_state.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                                          std::memory_order_relaxed)) {
      const bool ok = pthread_key_create(&g_key, release_slot) == 0;
      // release: publishes g_key (pairs with the acquire load above).
      g_key_state.store(ok ? 2 : 3, std::memory_order_release);
      return ok;
    }
    sched_yield();
    state = g_key_state.load(std::memory_order_acquire);  // acquire: as above
  }
  return true;
}

CounterSlot* claim_slot() noexcept {
  for (std::size_t i = 1; i < kCounterSlots; ++i) {
    std::uint32_t expected = 0;
    // relaxed pre-check keeps the scan cheap; acquire on success pairs with
    // release_slot's release so we continue from the previous owner's totals.
    if (g_slots[i].owner.load(std::memory_order_relaxed) == 0 &&
        g_slots[i].owner.compare_exchange_strong(expected, 1, std::memory_order_acquire,
                                                 std::memory_order_relaxed)) {
      return &g_slots[i];
    }
  }
  return nullptr;
}

}  // namespace

CounterSlot* counter_slots() noexcept { return g_slots; }

CounterSlot& counter_slot_slow(ThreadState& t) noexcept {
  if (t.exiting || t.no_slot || t.hook_depth > 0) return g_slots[0];
  enter_profiler(t);  // pthread_setspecific may allocate
  CounterSlot* slot = ensure_key() ? claim_slot() : nullptr;
  if (slot != nullptr && pthread_setspecific(g_key, slot) != 0) {
    slot->owner.store(0, std::memory_order_release);  // release: as in release_slot
    slot = nullptr;
  }
  set_owned_slot(t, slot);
  t.no_slot = slot == nullptr;
  leave_profiler(t);
  return slot != nullptr ? *slot : g_slots[0];
}

void count_object_slow(ThreadState& t, std::atomic<std::uint64_t> CounterSlot::*bytes_field,
                       std::atomic<std::uint64_t> CounterSlot::*objects_field,
                       std::uint64_t bytes) noexcept {
  slot_add(counter_slot(t), bytes_field, objects_field, bytes);
}

}  // namespace syncscope::prof::internal
