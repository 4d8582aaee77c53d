// Spawn stacks reused per call site: a per-thread cache of the stacks that
// spawn functions captured, checked against the live stack before reuse.
//
// A spawn site's stack rarely varies (a loop spawning tasks calls the spawn
// function from the same frames every time), and unwinding it costs about
// 85 instructions a frame even with libunwind's cached trace: the largest
// part of a tracked task's cost. The cache keys a stack by where the spawn
// function was called from and checks, word by word, that every return
// address of the cached stack is still in its slot on the live stack.
//
// Contract: capture_spawn_stack_at(ra, cfa, pcs, max) writes what a fresh
// unwind from the spawn function would write (pcs[0] in the spawn function,
// then its callers, at most max frames) and returns the count. The spawn
// function passes its own return address and canonical frame address
// (capture_spawn_stack in stack_capture.h does this, inlined).
//
// Implementation notes:
//
//   key: (pc in the spawn function, its return address, its CFA)
//   entry: pcs[0..depth), slot[i] = address on the stack that held pcs[i]
//
//   stack (grows down)      cfa + ...  [ret addr pcs[3]] <- slot[3]
//                                      [ret addr pcs[2]] <- slot[2]
//   spawn fn's CFA ->  cfa             ...
//                           cfa - 8    [ret addr pcs[1]]  (the key's ra)
// - Hit: same key and *slot[i] == pcs[i] for every i >= 2. The key fixes
//   the spawn function's frame and its caller's pc; a frame whose size is
//   fixed by its pc (no alloca) then lies where it lay before, so equal
//   return addresses in every slot mean the same chain of callers: the
//   unwinder would return the same pcs.
// - Fill: a key seen for the first time is captured with prof::capture_stack
//   (libunwind's cached trace, as before) and remembered as "seen"; the
//   second time it is captured with a cursor walk that also yields each
//   frame's stack pointer, which gives the slots. A site that spawns once
//   (or from ever-changing depths) so pays what it paid before, plus a
//   compare; only repeated sites pay the slower walk, once.
// - An entry is kept only when every slot lies between the CFA and the top
//   of the thread's stack (pthread_getattr_np, read once per thread): that
//   range stays mapped while the thread lives and the CFA is unchanged, so
//   the check on a hit reads only mapped memory of this thread's own stack.
// - Per thread, so no locks or atomics; direct-mapped, kEntries entries.
//   Storage is an anonymous mapping made on the thread's second capture
//   (a thread that spawns once maps nothing) and unmapped when it exits (not the heap: the profiler's own
//   memory stays out of the program's heap profile).
//
// Hazard: a frame whose size varies at run time (alloca, a variable-length
// array) shifts its callers' slots. A hit then needs each shifted slot to
// hold, as stale data, the very return address cached for it; in principle
// possible (uninitialised alloca space keeps old stack contents), so a
// spawn stack through such frames may, rarely, show the callers of an
// earlier spawn from the same function at the same depth. The spawn site
// (source_location) is always exact.
//
// x86-64 only (the return address sits at CFA - 8); elsewhere every spawn
// unwinds as before.
//
// When not to use: for stacks that must be exact through frames of
// variable size (use prof::capture_stack).
#pragma once

#include <cstdint>

namespace syncscope::task::internal {

// See the file comment. Never allocates on the heap; never throws.
int capture_spawn_stack_at(std::uintptr_t spawn_return_address, std::uintptr_t spawn_cfa,
                           std::uintptr_t* pcs, int max_frames) noexcept;

// The calling thread's counts, for tests and benchmarks.
struct SpawnStackCacheStats {
  std::uint64_t hits = 0;       // reused a cached stack
  std::uint64_t first_seen = 0;  // unwound (key seen for the first time, or evicted, or no cache yet)
  std::uint64_t filled = 0;     // unwound with slots and cached
  std::uint64_t stale = 0;      // key matched, a slot did not: unwound again
};
SpawnStackCacheStats spawn_stack_cache_stats() noexcept;

}  // namespace syncscope::task::internal
