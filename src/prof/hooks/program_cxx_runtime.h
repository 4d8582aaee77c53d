// The program's C++ runtime, reached by name at run time from the operator
// new hooks' out-of-memory path, so that the hooks link no C++ runtime
// function themselves (issue 16, item 1: the preload object should not need
// libstdc++, which a C program would otherwise load only for it).
//
// The new-handler and the bad_alloc the hooks throw must be the program's
// own: std::set_new_handler stores the handler in the program's libstdc++,
// and a bad_alloc thrown by a second exception runtime would be caught and
// freed by the program's. So each entry point below is looked up in the
// program's libstdc++ (dlsym) by a constructor at load, a few microseconds,
// and called only when an allocation fails; one missing at load is looked
// up again at each failure (a C program may dlopen a C++ library later).
#pragma once

#include <cstddef>
#include <new>

namespace syncscope::prof::internal {

// The program's current new-handler (std::get_new_handler()), or nullptr
// when there is none or no libstdc++ is loaded (then nothing can have set
// one).
std::new_handler program_new_handler() noexcept;

// Throws std::bad_alloc through the program's libstdc++
// (std::__throw_bad_alloc). Aborts with a message when no libstdc++ is
// loaded: then no code in the process can catch it.
[[noreturn]] void throw_program_bad_alloc();

// Calls the next definition after the hooks of `operator new(size, nothrow)`
// or, with `alignment` != 0, of `operator new(size, align_val_t, nothrow)`:
// the program's libstdc++'s, which calls the global throwing operator new
// (the hooks, which record the block) and returns nullptr for any exception
// that throws, the new-handler's included. So a nothrow new's retry needs no
// catch of ours. nullptr when no libstdc++ is loaded.
void* program_nothrow_new(std::size_t size, std::size_t alignment) noexcept;

}  // namespace syncscope::prof::internal
