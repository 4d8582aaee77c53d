// The unwind gate: keeps the process's stack walks and fork() apart.
//
// A local stack walk (libunwind) holds locks while it looks return
// addresses up: the loader's module-list lock (dl_iterate_phdr), which
// glibc 2.36 does not reset in a fork child, and libunwind's own mutex
// around its unwind-table search, which no fork handler resets either. A
// child forked while another thread of the parent was inside a walk hangs
// at its own first walk (gdb on such a child: __lll_lock_wait under
// _ULx86_64_dwarf_search_unwind_table). The profiler walks stacks far more
// often than a program does on its own (sampled allocations, contended
// locks, task spawns, thread dumps), so every walk it makes passes the gate:
//
//   - A walk is announced with an UnwindGateScope and proceeds only while
//     the gate is open; with the gate closed it records no frames (a
//     sampled block or a spawn keeps an empty stack).
//   - fork's prepare handler closes the gate and waits, bounded (about 1 s,
//     polled), for the walks in flight; the parent and child handlers open
//     it again. A walk that cannot finish (it waits for the loader's lock,
//     which a thread of the program may hold across its fork) lets the fork go
//     ahead as it did before the gate.
//   - The gate registers its own fork handlers when the process starts, so
//     it works whether or not the heap profiler (which registers handlers
//     of its own, heap_recorder.cc) is on. Closing nests: the heap
//     profiler's handlers close it first, before taking their locks.
//
// Async-signal-safe: two atomic read-modify-writes and a load per walk.
#pragma once

#include <atomic>

namespace syncscope::prof::internal {

// Walks in flight; incremented before and decremented after each walk.
extern std::atomic<int> g_unwind_walks_in_flight;
// Closers that have not opened again (fork prepare handlers); the gate is
// closed while this is above 0.
extern std::atomic<int> g_unwind_gate_closers;

// One walk's pass through the gate (a stack object around the walk).
class UnwindGateScope {
 public:
  UnwindGateScope() noexcept {
    // seq_cst (both): this side of a Dekker handshake with
    // close_unwind_gate(): either this walk sees the gate closed, or the
    // closer sees the walk in flight and waits for it.
    g_unwind_walks_in_flight.fetch_add(1, std::memory_order_seq_cst);
    open_ = g_unwind_gate_closers.load(std::memory_order_seq_cst) == 0;
  }
  ~UnwindGateScope() {
    // release: the walk is over before the closer's load sees the count drop.
    g_unwind_walks_in_flight.fetch_sub(1, std::memory_order_release);
  }
  UnwindGateScope(const UnwindGateScope&) = delete;
  UnwindGateScope& operator=(const UnwindGateScope&) = delete;

  // Whether the walk may go ahead (no fork under way).
  bool open() const noexcept { return open_; }

 private:
  bool open_;
};

// Closes the gate (nests) and waits, polled, at most about 1 s for the walks
// in flight. For fork prepare handlers.
void close_unwind_gate() noexcept;
// Undoes one close_unwind_gate(). For fork parent and child handlers.
void open_unwind_gate() noexcept;

}  // namespace syncscope::prof::internal
