// Replacements for every form of operator new and delete (plain, array,
// nothrow, sized, aligned), forwarding to glibc's allocator and reporting to
// the recorder exactly as the C interposers do, so the stack depth between
// the recorder and the user's `new` expression is the same for every form.
#include <new>

#include "prof/fault_point.h"
#include "prof/heap_recorder.h"
#include "prof/hooks/glibc_real.h"
#include "prof/hooks/program_cxx_runtime.h"
#include "prof/hooks/sampled_alloc.h"
#include "prof/oom_recovery.h"

using syncscope::prof::internal::count_fast_alloc;
using syncscope::prof::internal::CounterSlot;
using syncscope::prof::internal::keep_frame;
using syncscope::prof::internal::kHookFramesOutOfLine;
using syncscope::prof::internal::on_alloc;
using syncscope::prof::internal::on_free;
using syncscope::prof::internal::glibc_alloc;
using syncscope::prof::internal::take_fast_alloc;
using syncscope::prof::internal::take_fast_free;
using syncscope::prof::internal::take_sample;

namespace {

// Out-of-memory path of throwing new: run the program's new-handler until it
// frees memory, or throw the program's std::bad_alloc when there is none
// (program_cxx_runtime.h). `sample`: the request was sampled (its block gets
// a prefix: sampled_alloc.h). An allocation of the LD_PRELOAD core's
// own work under a recovery point returns there instead, running no
// new-handler of the program (oom_recovery.h): nothing may be thrown
// through the core's frames, which are built without exceptions.
__attribute__((noinline)) void* new_slow(std::size_t size, std::size_t alignment, bool sample = false) {
  syncscope::prof::internal::return_to_recovery_point_if_any();
  for (;;) {
    const std::new_handler handler = syncscope::prof::internal::program_new_handler();
    if (handler == nullptr) syncscope::prof::internal::throw_program_bad_alloc();
    handler();
    void* p = glibc_alloc(size, alignment, sample);
    if (p != nullptr) return p;
  }
}

// glibc's allocation, or nullptr when fault injection fails this request
// (then new_slow runs the new-handler or throws, as for a real failure).
void* raw_alloc(std::size_t size, std::size_t alignment, bool sample) noexcept {
  using syncscope::prof::fault_injection::Target;
  void* p = syncscope::prof::internal::should_inject(Target::kHeap, size) ? nullptr
                                                                           : glibc_alloc(size, alignment, sample);
  if (p == nullptr) syncscope::prof::internal::note_failed_allocation();
  return p;
}

// Out-of-memory path of nothrow new, after glibc had no block: nullptr when
// the program has no new-handler (nothing more to try), else the program's
// libstdc++ nothrow new runs the handler through the hooks' throwing new and
// turns what it throws into nullptr (program_cxx_runtime.h). A block it
// returns was recorded by that throwing new (its stack has the nothrow
// operator's frames on top; a rare path), so the caller records nothing.
__attribute__((noinline)) void* nothrow_retry(std::size_t size, std::size_t alignment) noexcept {
  if (syncscope::prof::internal::program_new_handler() == nullptr) return nullptr;
  return syncscope::prof::internal::program_nothrow_new(size, alignment);
}

// release() when take_fast_free() declined: the full recording path, out of
// line so that release()'s fast path needs no stack frame.
__attribute__((noinline)) void release_slow(void* p) noexcept {
  on_free(p);
  syncscope::prof::internal::free_to_glibc(p);
}

inline void release(void* p) noexcept {
  if (p == nullptr) return;
  if (__builtin_expect(!take_fast_free(p), 0)) return release_slow(p);
  __libc_free(p);
}

inline std::size_t align_of(std::align_val_t a) { return static_cast<std::size_t>(a); }

}  // namespace

extern "C" {
// Anchor for the link option (see malloc_hooks.cc).
__attribute__((visibility("default"))) extern const int syncscope_prof_new_hooks_anchor;
const int syncscope_prof_new_hooks_anchor = 1;
}

namespace {

// The full paths (fault injection, sampling, exact mode, the profiler's own
// allocations), out of line so that the operators' fast path needs no saved
// registers. Called through keep_frame, never tail-called: on_alloc counts
// their frame (kHookFramesOutOfLine). A sampled request gets a block behind
// a prefix (sampled_alloc.h).
__attribute__((noinline)) void* new_slow_path(std::size_t size, std::size_t alignment) {
  const bool sample = take_sample(size);
  void* p = raw_alloc(size, alignment, sample);
  if (p == nullptr) p = new_slow(size, alignment, sample);
  on_alloc(p, size, sample, kHookFramesOutOfLine);
  return p;
}

__attribute__((noinline)) void* nothrow_new_slow_path(std::size_t size, std::size_t alignment) noexcept {
  const bool sample = take_sample(size);
  void* p = raw_alloc(size, alignment, sample);
  if (p == nullptr) return nothrow_retry(size, alignment);  // recorded there, if a block
  on_alloc(p, size, sample, kHookFramesOutOfLine);
  return p;
}

// A fast-path request glibc could not serve (the countdown was charged: not
// a sample): counted as a failed allocation, then the new-handler loop (or
// bad_alloc), and the block it ends with recorded as an unsampled one. Out
// of line, so that the operators' fast path keeps only its slot and the
// request across glibc's call (with the failure path inline it saved four
// registers: six instructions more on the fast path, which is now 29;
// malloc's 24). Called through keep_frame: on_alloc counts its frame
// (kHookFramesOutOfLine).
__attribute__((noinline)) void* new_after_failed_fast(std::size_t size, std::size_t alignment) {
  syncscope::prof::internal::note_failed_allocation();
  void* p = new_slow(size, alignment);
  on_alloc(p, size, false, kHookFramesOutOfLine);
  return p;
}

// The same for nothrow new: nullptr, or the block nothrow_retry recorded.
__attribute__((noinline)) void* nothrow_new_after_failed_fast(std::size_t size, std::size_t alignment) noexcept {
  syncscope::prof::internal::note_failed_allocation();
  return nothrow_retry(size, alignment);
}

// glibc's block for a fast-path request, or nullptr.
__attribute__((always_inline)) inline void* glibc_block(std::size_t size, std::size_t alignment) noexcept {
  return alignment != 0 ? __libc_memalign(alignment, size) : __libc_malloc(size);
}

// The bodies are always inlined into each operator, so that the recorder's
// frames above the user's code stay kHookFrames on every path.
__attribute__((always_inline)) inline void* new_impl(std::size_t size, std::size_t alignment) {
  if (CounterSlot* s = take_fast_alloc(size); __builtin_expect(s != nullptr, 1)) {
    void* p = glibc_block(size, alignment);
    if (__builtin_expect(p == nullptr, 0)) return keep_frame(new_after_failed_fast(size, alignment));
    count_fast_alloc(s, p);
    return p;
  }
  return keep_frame(new_slow_path(size, alignment));
}

__attribute__((always_inline)) inline void* nothrow_new_impl(std::size_t size,
                                                             std::size_t alignment) noexcept {
  if (CounterSlot* s = take_fast_alloc(size); __builtin_expect(s != nullptr, 1)) {
    void* p = glibc_block(size, alignment);
    if (__builtin_expect(p == nullptr, 0)) return keep_frame(nothrow_new_after_failed_fast(size, alignment));
    count_fast_alloc(s, p);
    return p;
  }
  return keep_frame(nothrow_new_slow_path(size, alignment));
}

}  // namespace

void* operator new(std::size_t n) { return new_impl(n, 0); }
void* operator new[](std::size_t n) { return new_impl(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return new_impl(n, align_of(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return new_impl(n, align_of(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return nothrow_new_impl(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  return nothrow_new_impl(n, 0);
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return nothrow_new_impl(n, align_of(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return nothrow_new_impl(n, align_of(a));
}

void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
