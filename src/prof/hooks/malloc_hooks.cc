// Interposers for the C allocation functions. Linked into every program that
// links syncscope::prof (forced by -u syncscope_prof_malloc_hooks_anchor) and
// into libsyncscope_preload.so. Each one forwards to glibc's real function and
// reports to the recorder: after an allocation, before a free.
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>

#include "prof/fault_point.h"
#include "prof/heap_recorder.h"
#include "prof/hooks/glibc_real.h"

using syncscope::prof::internal::note_failed_allocation;
using syncscope::prof::internal::on_alloc;
using syncscope::prof::internal::on_free;

namespace {

// Whether fault injection fails this request (fault_injection.h).
inline bool inject(size_t size) noexcept {
  return syncscope::prof::internal::should_inject(syncscope::prof::fault_injection::Target::kHeap,
                                                  size);
}

// What an allocation that failed returns, as glibc's do.
inline void* failure() noexcept {
  note_failed_allocation();
  errno = ENOMEM;
  return nullptr;
}

// Reports the outcome of a real allocation of `size` bytes at p.
__attribute__((always_inline)) inline void* allocated(void* p, size_t size) noexcept {
  if (p != nullptr) {
    on_alloc(p, size);
  } else {
    note_failed_allocation();
  }
  return p;
}

}  // namespace

extern "C" {

// Referenced by the link option of syncscope::prof so the linker always pulls
// this object (and the recorder knows the interposers are present).
__attribute__((visibility("default"))) extern const int syncscope_prof_malloc_hooks_anchor;
const int syncscope_prof_malloc_hooks_anchor = 1;

void* malloc(size_t size) noexcept {
  if (inject(size)) return failure();
  return allocated(__libc_malloc(size), size);
}

void free(void* p) noexcept {
  if (p == nullptr) return;
  on_free(p);  // before glibc may hand the address to another thread
  __libc_free(p);
}

void* calloc(size_t n, size_t size) noexcept {
  size_t bytes = 0;
  if (!__builtin_mul_overflow(n, size, &bytes) && inject(bytes)) return failure();
  return allocated(__libc_calloc(n, size), bytes);  // overflow: glibc fails it
}

void* realloc(void* old, size_t size) noexcept {
  if (old == nullptr) return malloc(size);
  if (size != 0 && inject(size)) return failure();  // the old block stays live and tracked
  const size_t old_usable = syncscope::prof::internal::usable_size(old);
  on_free(old);  // the old address may be reused by another thread at once
  void* p = __libc_realloc(old, size);
  if (p != nullptr) {
    on_alloc(p, size);
  } else if (size != 0) {
    note_failed_allocation();
    on_alloc(old, old_usable);  // failed: the old block is still live
  }
  return p;
}

// glibc's own reallocarray calls its internal realloc, which would bypass
// the interposer above; route it through ours instead.
void* reallocarray(void* old, size_t n, size_t size) noexcept {
  size_t bytes = 0;
  if (__builtin_mul_overflow(n, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc(old, bytes);
}

void* memalign(size_t alignment, size_t size) noexcept {
  if (inject(size)) return failure();
  return allocated(__libc_memalign(alignment, size), size);
}

void* aligned_alloc(size_t alignment, size_t size) noexcept {
  if (inject(size)) return failure();
  return allocated(__libc_memalign(alignment, size), size);
}

int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
  // POSIX: a power of two multiple of sizeof(void*), else EINVAL.
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0 || alignment == 0) {
    return EINVAL;
  }
  void* p = inject(size) ? nullptr : __libc_memalign(alignment, size);
  if (p == nullptr) {
    note_failed_allocation();
    return ENOMEM;
  }
  on_alloc(p, size);
  *out = p;
  return 0;
}

void* valloc(size_t size) noexcept {
  if (inject(size)) return failure();
  return allocated(__libc_valloc(size), size);
}

void* pvalloc(size_t size) noexcept {
  if (inject(size)) return failure();
  return allocated(__libc_pvalloc(size), size);
}

size_t malloc_usable_size(void* p) noexcept {
  return syncscope::prof::internal::usable_size(p);
}

}  // extern "C"
