// Per-thread state of the allocation hooks and the per-thread counter slots
// behind HeapProfiler::counters().
//
// Implementation notes
//   Each thread owns one CounterSlot (claimed on its first allocation,
//   returned by a pthread-key destructor at thread exit), so counting is a
//   plain load+store on a line no other thread writes. Threads beyond
//   kCounterSlots, and threads past their key destructor, share slot 0 and
//   use atomic read-modify-writes instead. (The owner's add is one unlocked
//   add to memory on x86-64: owner_add.) A slot keeps its totals when it
//   changes owner, so sums over all slots are process totals.
//
//     slots_[0]            shared (atomic RMW, any thread)
//     slots_[1..N-1]       owner_ != 0: owned by one thread (load+store)
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace syncscope::prof::internal {

struct alignas(64) CounterSlot {
  // Written by the owner (owner_add) or, for the shared slot, by anyone with
  // atomic RMW; read by counters() with relaxed loads: plain statistics,
  // they publish nothing.
  //
  // The byte counters add counted_bytes_of_head() per block, the usable size
  // plus 8: the fast paths add the chunk header's size bits as they are (one
  // `and`), and counters() takes 8 bytes per object off the sums
  // (usable_bytes_counted).
  std::atomic<std::uint64_t> alloc_bytes{0};    // counted bytes, cumulative
  std::atomic<std::uint64_t> alloc_objects{0};
  std::atomic<std::uint64_t> free_bytes{0};
  std::atomic<std::uint64_t> free_objects{0};
  // Threads of this slot currently inside the recording slow path of a hook;
  // LiveBlockTable::freeze() waits for it to reach 0 on every slot.
  std::atomic<std::uint32_t> busy{0};
  // 0 = free, 1 = owned by a thread (slot 0 is never owned).
  std::atomic<std::uint32_t> owner{0};
  bool shared = false;  // true for slot 0 only (constant-initialized)
};

inline constexpr std::size_t kCounterSlots = 512;

struct RecoveryPoint;  // oom_recovery.cc

// Thread-local hook state. Trivial and zero-initialized so it is valid from a
// thread's first instruction; initial-exec TLS so access is one instruction.
struct ThreadState {
  int hook_depth;               // > 0: inside the profiler; nested allocations are not recorded
  bool exiting;                 // past the pthread-key destructor: use the shared slot
  bool freezer;                 // this thread called LiveBlockTable::freeze(); never blocks
  bool no_slot;                 // no slot could be claimed: use the shared slot for good
  // The slot this thread owns, or nullptr: not claimed yet, none free
  // (no_slot), or released at thread exit (exiting). Never the shared slot,
  // so the counting fast path is "owned slot: plain add; else slow path".
  CounterSlot* slot;
  // `slot` while hook_depth is 0, else nullptr: the one test by which the
  // interposers' fast paths rule out both "inside the profiler" and "no
  // owned slot". Kept by enter_profiler/leave_profiler/set_hook_depth and
  // wherever slot changes (set_owned_slot).
  CounterSlot* fast_slot;
  std::int64_t bytes_until_sample;  // allocation bytes left before the next sample
  std::uint64_t rng;            // xorshift state; 0 = unseeded
  std::uint32_t sampler_generation;  // the generation bytes_until_sample was drawn for
  // Allocations of this thread that returned nullptr (or threw), real or
  // injected; only ever increases. The symbolizer does not cache a result
  // computed while it rose.
  std::uint64_t failed_allocations;
  // The innermost run_recoverable of this thread in the LD_PRELOAD core, or
  // nullptr (always, in the library build): operator new's failure path
  // returns there (oom_recovery.h). Written only by this thread.
  RecoveryPoint* recovery;
};

extern __thread ThreadState tls_state __attribute__((tls_model("initial-exec")));

// The slot of the calling thread: its own (claimed on first use) or the
// shared slot 0. Never allocates except through pthread_setspecific, which
// runs with hook_depth raised.
CounterSlot& counter_slot_slow(ThreadState& t) noexcept;
inline CounterSlot& counter_slot(ThreadState& t) noexcept {
  return t.slot != nullptr ? *t.slot : counter_slot_slow(t);
}

// Adds v to a counter that only the calling thread writes (an owned slot's),
// in one instruction on x86-64: an add to memory, not a locked one, which is
// all a single writer needs. Readers' relaxed loads see the old or the new
// value (an aligned 8-byte store does not tear), as with the load+store it
// replaces, which the compiler does not fuse for an atomic (two instructions
// more per counter on the hooks' fast path). Elsewhere: that load+store.
__attribute__((always_inline)) inline void owner_add(std::atomic<std::uint64_t>& counter,
                                                     std::uint64_t v) noexcept {
#if defined(__x86_64__)
  static_assert(sizeof(std::atomic<std::uint64_t>) == sizeof(std::uint64_t) &&
                std::atomic<std::uint64_t>::is_always_lock_free);
  __asm__("addq %1, %0" : "+m"(*reinterpret_cast<std::uint64_t*>(&counter)) : "er"(v) : "cc");
#else
  // relaxed: only the owner writes; readers tolerate a stale sum.
  counter.store(counter.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
#endif
}

using SlotCounter = std::atomic<std::uint64_t> CounterSlot::*;

// Counts one object of `bytes` into a pair of an owned slot's counters
// (alloc_* or free_*, named by bytes_field and objects_field): the owner's
// adds.
__attribute__((always_inline)) inline void owner_count(CounterSlot& s, SlotCounter bytes_field,
                                                       SlotCounter objects_field, std::uint64_t bytes) noexcept {
  owner_add(s.*bytes_field, bytes);
  owner_add(s.*objects_field, 1);
}

// Adds one object of `bytes` to a pair of the slot's counters (alloc_* or
// free_*): the owner's adds for an owned slot, RMW for the shared one.
inline void slot_add(CounterSlot& s, SlotCounter bytes_field, SlotCounter objects_field,
                     std::uint64_t bytes) noexcept {
  if (s.shared) {
    // relaxed: statistics only; they publish nothing.
    (s.*bytes_field).fetch_add(bytes, std::memory_order_relaxed);
    (s.*objects_field).fetch_add(1, std::memory_order_relaxed);
  } else {
    owner_count(s, bytes_field, objects_field, bytes);
  }
}

// Counts one object of `bytes` into a pair of the calling thread's counters
// (alloc_* or free_*). The hooks' fast path: an owned slot takes the
// owner's adds on the thread's own line, with no test of the slot's kind.
void count_object_slow(ThreadState& t, SlotCounter bytes_field, SlotCounter objects_field,
                       std::uint64_t bytes) noexcept;
__attribute__((always_inline)) inline void count_object(ThreadState& t, SlotCounter bytes_field,
                                                        SlotCounter objects_field, std::uint64_t bytes) noexcept {
  CounterSlot* s = t.slot;
  if (__builtin_expect(s == nullptr, 0)) return count_object_slow(t, bytes_field, objects_field, bytes);
  owner_count(*s, bytes_field, objects_field, bytes);
}

// All slots (for sums and for the freeze handshake).
CounterSlot* counter_slots() noexcept;

// hook_depth and fast_slot change together, only through these four.
inline void enter_profiler(ThreadState& t) noexcept {
  ++t.hook_depth;
  t.fast_slot = nullptr;
}
inline void leave_profiler(ThreadState& t) noexcept {
  if (--t.hook_depth == 0) t.fast_slot = t.slot;
}
// For a jump back to a recovery point (oom_recovery.cc) that restores the depth.
inline void set_hook_depth(ThreadState& t, int depth) noexcept {
  t.hook_depth = depth;
  t.fast_slot = depth == 0 ? t.slot : nullptr;
}
// The thread's owned slot changes (claimed, or released at thread exit).
inline void set_owned_slot(ThreadState& t, CounterSlot* slot) noexcept {
  t.slot = slot;
  t.fast_slot = t.hook_depth == 0 ? slot : nullptr;
}

// RAII: raises hook_depth so the profiler's own allocations pass straight
// through the hooks (no sampling, no exact tracking, no lock re-entry).
class HookGuard {
 public:
  HookGuard() noexcept { enter_profiler(tls_state); }
  ~HookGuard() { leave_profiler(tls_state); }
  HookGuard(const HookGuard&) = delete;
  HookGuard& operator=(const HookGuard&) = delete;
};

}  // namespace syncscope::prof::internal
