// Interposers for the C allocation functions. Linked into every program that
// links syncscope::prof (forced by -u syncscope_prof_malloc_hooks_anchor) and
// into libsyncscope_preload.so. Each one forwards to glibc's real function and
// reports to the recorder: after an allocation, before a free.
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#include "prof/fault_point.h"
#include "prof/heap_recorder.h"
#include "prof/hooks/glibc_real.h"
#include "prof/hooks/sampled_alloc.h"

using syncscope::prof::internal::count_fast_alloc;
using syncscope::prof::internal::CounterSlot;
using syncscope::prof::internal::fast_free_ok;
using syncscope::prof::internal::note_failed_allocation;
using syncscope::prof::internal::on_alloc;
using syncscope::prof::internal::on_free;
using syncscope::prof::internal::alloc_sampled;
using syncscope::prof::internal::glibc_alloc;
using syncscope::prof::internal::realloc_block;
using syncscope::prof::internal::take_fast_alloc;
using syncscope::prof::internal::take_fast_free;
using syncscope::prof::internal::take_sample;

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

// A fast-path request glibc could not serve: counted, nullptr. Out of line,
// so that the fast path keeps nothing but its slot across glibc's call.
__attribute__((noinline)) void* failed_fast_allocation() noexcept {
  note_failed_allocation();
  return nullptr;
}

// Reports the outcome of a real allocation of `size` bytes at p.
__attribute__((always_inline)) inline void* allocated(void* p, size_t size, bool sample,
                                                      int frames = syncscope::prof::internal::kHookFrames) noexcept {
  if (p != nullptr) {
    on_alloc(p, size, sample, frames);
  } else {
    note_failed_allocation();
  }
  return p;
}

// A sampled request gets a block behind a prefix (sampled_alloc.h). Out of line:
// about one request in 512 KiB of allocation takes these.
__attribute__((noinline)) void* sampled_malloc(size_t size) noexcept {
  return glibc_alloc(size, 0, true);
}

// `bytes`: the product calloc checked for overflow.
__attribute__((noinline)) void* sampled_calloc(size_t bytes) noexcept {
  return alloc_sampled(bytes, 0, [](size_t m) noexcept { return __libc_calloc(1, m); });
}

// memalign and its kin: glibc's block at `alignment`, behind a prefix when sampled.
__attribute__((noinline)) void* aligned(size_t alignment, size_t size, bool sample) noexcept {
  return glibc_alloc(size, alignment, sample);
}

// malloc() when take_fast_alloc() declined: the full path (fault injection,
// sampling, exact mode, the profiler's own allocations). Out of line so that
// malloc()'s fast path needs no saved registers; called through keep_frame.
__attribute__((noinline)) void* malloc_slow(size_t size) noexcept {
  if (inject(size)) return failure();
  const bool sample = take_sample(size);
  return allocated(sample ? sampled_malloc(size) : __libc_malloc(size), size, sample,
                   syncscope::prof::internal::kHookFramesOutOfLine);
}

// calloc() when its fast path declined: the full path, as malloc_slow.
__attribute__((noinline)) void* calloc_slow(size_t n, size_t size) noexcept {
  size_t bytes = 0;
  if (__builtin_mul_overflow(n, size, &bytes)) return allocated(__libc_calloc(n, size), 0, false);  // fails
  if (inject(bytes)) return failure();
  const bool sample = take_sample(bytes);
  return allocated(sample ? sampled_calloc(bytes) : __libc_calloc(n, size), bytes, sample,
                   syncscope::prof::internal::kHookFramesOutOfLine);
}

// realloc() of a block (non-null) when its fast path declined: the full
// path, as malloc_slow.
__attribute__((noinline)) void* realloc_slow(void* old, size_t size) noexcept {
  constexpr int kFrames = syncscope::prof::internal::kHookFramesOutOfLine;
  if (size != 0 && inject(size)) return failure();  // the old block stays live and tracked
  const size_t old_usable = syncscope::prof::internal::usable_size(old);
  on_free(old);  // the old address may be reused by another thread at once
  const bool sample = size != 0 && take_sample(size);
  void* p = realloc_block(old, old_usable, size, sample);
  if (p != nullptr) {
    on_alloc(p, size, sample, kFrames);
  } else if (size != 0) {
    note_failed_allocation();
    // Failed: the old block is still live. Counted again, not as a sample
    // (its sample, if it was one, is booked freed; a prefix it has stays).
    on_alloc(old, old_usable, false, kFrames);
  }
  return p;
}

// free() when take_fast_free() declined: the full recording path. Out of
// line so that free()'s fast path needs no stack frame (a free records no
// stack, so the extra frame changes nothing).
__attribute__((noinline)) void free_slow(void* p) noexcept {
  on_free(p);
  syncscope::prof::internal::free_to_glibc(p);
}

}  // namespace

extern "C" {

// Referenced by the link option of syncscope::prof so the linker always pulls
// this object (and the recorder knows the interposers are present).
__attribute__((visibility("default"))) extern const int syncscope_prof_malloc_hooks_anchor;
const int syncscope_prof_malloc_hooks_anchor = 1;

void* malloc(size_t size) noexcept {
  CounterSlot* s = take_fast_alloc(size);
  if (__builtin_expect(s == nullptr, 0)) return syncscope::prof::internal::keep_frame(malloc_slow(size));
  void* p = __libc_malloc(size);
  if (__builtin_expect(p == nullptr, 0)) return failed_fast_allocation();
  count_fast_alloc(s, p);
  return p;
}

void free(void* p) noexcept {
  if (p == nullptr) return;
  // Before glibc may hand the address to another thread.
  if (__builtin_expect(!take_fast_free(p), 0)) return free_slow(p);
  __libc_free(p);
}

void* calloc(size_t n, size_t size) noexcept {
  size_t bytes = 0;
  CounterSlot* s = nullptr;
  if (__builtin_expect(!__builtin_mul_overflow(n, size, &bytes) && (s = take_fast_alloc(bytes)) != nullptr, 1)) {
    void* p = __libc_calloc(n, size);
    if (__builtin_expect(p == nullptr, 0)) return failed_fast_allocation();
    count_fast_alloc(s, p);
    return p;
  }
  return syncscope::prof::internal::keep_frame(calloc_slow(n, size));
}

void* realloc(void* old, size_t size) noexcept {
  if (old == nullptr) return malloc(size);
  // The fast path: the old block's free and the new block's allocation are
  // each all that the full path would do (the old block is tested first,
  // since take_fast_alloc charges the countdown).
  CounterSlot* s = syncscope::prof::internal::tls_state.fast_slot;
  const size_t head = syncscope::prof::internal::chunk_head(old);
  if (__builtin_expect(size != 0 && fast_free_ok(s, head) && take_fast_alloc(size) != nullptr, 1)) {
    void* p = __libc_realloc(old, size);
    if (__builtin_expect(p != nullptr, 1)) {
      // Counted after the call: a failed realloc leaves the old block live.
      syncscope::prof::internal::count_fast_free(*s, head);
      count_fast_alloc(s, p);
    } else {
      note_failed_allocation();
    }
    return p;
  }
  return syncscope::prof::internal::keep_frame(realloc_slow(old, size));
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
  const bool sample = take_sample(size);
  return allocated(aligned(alignment, size, sample), size, sample);
}

void* aligned_alloc(size_t alignment, size_t size) noexcept {
  if (inject(size)) return failure();
  const bool sample = take_sample(size);
  return allocated(aligned(alignment, size, sample), size, sample);
}

int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
  // POSIX: a power of two multiple of sizeof(void*), else EINVAL.
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0 || alignment == 0) {
    return EINVAL;
  }
  if (inject(size)) {
    note_failed_allocation();
    return ENOMEM;
  }
  const bool sample = take_sample(size);
  void* p = aligned(alignment, size, sample);
  if (p == nullptr) {
    note_failed_allocation();
    return ENOMEM;
  }
  on_alloc(p, size, sample);
  *out = p;
  return 0;
}

void* valloc(size_t size) noexcept {
  if (inject(size)) return failure();
  const bool sample = take_sample(size);
  return allocated(sample ? aligned(static_cast<size_t>(getpagesize()), size, true) : __libc_valloc(size), size,
                   sample);
}

// A sampled pvalloc is memalign(page, size rounded up to pages) behind a
// prefix: what pvalloc itself does, with the prefix (a page) on top.
void* pvalloc(size_t size) noexcept {
  if (inject(size)) return failure();
  const bool sample = take_sample(size);
  const size_t page = static_cast<size_t>(getpagesize());
  // (A size that rounding would overflow fails in glibc: not recorded as a sample.)
  if (!sample || size > ~size_t{0} - page) return allocated(__libc_pvalloc(size), size, false);
  return allocated(aligned(page, (size + page - 1) & ~(page - 1), true), size, true);
}

size_t malloc_usable_size(void* p) noexcept {
  return syncscope::prof::internal::usable_size(p);
}

}  // extern "C"
