// Out of memory in the profiler's own work (a dump, the module list, a
// snapshot): the work is abandoned and the caller told, the same way in both
// builds of the core sources.
//
//   - The library (syncscope_prof, linked into a program) is built with
//     exceptions: an allocation that fails throws std::bad_alloc, and
//     run_recoverable catches it.
//   - The LD_PRELOAD core object is built without exceptions and without the
//     C++ runtime (issue 16, item 1). run_recoverable sets a recovery point
//     of the calling thread (setjmp); operator new's failure path in the
//     hooks (hooks/new_delete_hooks.cc) finds it and jumps back to it
//     (longjmp) instead of throwing into frames that have no cleanups. The
//     frames jumped over run no destructors: what they had allocated is
//     leaked (an out-of-memory path only), and they must hold no lock.
//     That holds for every user below: the profiler's locks are SpinLocks,
//     whose critical sections never allocate (spin_lock.h); the loader's
//     lock, held during dl_iterate_phdr's callbacks, is covered by a
//     recovery point inside the callback (loaded_modules.cc); the preload's
//     dump lock is taken outside the recovery point (preload_main.cc).
//     hook_depth, which HookGuards in the skipped frames raised, is put back
//     to its value at run_recoverable.
#pragma once

#include <type_traits>

namespace syncscope::prof::internal {

// Runs fn(ctx). True when it returned; false when an allocation of
// operator new inside it failed (out of memory), after which fn's remaining
// work was skipped. Nests: a failure returns to the innermost call.
bool run_recoverable(void (*fn)(void*), void* ctx) noexcept;

template <class F>
bool run_recoverable(F&& f) noexcept {
  return run_recoverable([](void* c) { (*static_cast<std::remove_reference_t<F>*>(c))(); }, &f);
}

// Reports out of memory from the profiler's own code: returns to the
// innermost run_recoverable of the thread when there is one, else throws
// std::bad_alloc (the program's, in the preload core:
// hooks/program_cxx_runtime.h) to the caller.
[[noreturn]] void fail_out_of_memory();

// In the LD_PRELOAD core: returns to the innermost recovery point of the
// calling thread when it has one; returns when it has none. Called by
// operator new's failure path. Never does anything in the library build.
void return_to_recovery_point_if_any() noexcept;

// Failures run_recoverable has returned false for in this process.
unsigned long recovered_out_of_memory_count() noexcept;

}  // namespace syncscope::prof::internal
