// glibc's own allocator entry points. Every interposer forwards to these, so
// blocks keep glibc's layout (free/realloc of a block allocated before the
// hooks existed still works) and no dlsym bootstrap is needed.
// C functions never throw; saying so lets an interposer end in a tail call
// to them (no exception region around the call).
#pragma once

#include <cstddef>

extern "C" {
void* __libc_malloc(std::size_t size) noexcept;
void* __libc_calloc(std::size_t n, std::size_t size) noexcept;
void* __libc_realloc(void* p, std::size_t size) noexcept;
void __libc_free(void* p) noexcept;
void* __libc_memalign(std::size_t alignment, std::size_t size) noexcept;
void* __libc_valloc(std::size_t size) noexcept;
void* __libc_pvalloc(std::size_t size) noexcept;
}
