// The recording side of the allocation hooks: what malloc/free/new/delete
// call after (allocation) or before (free) the real glibc function.
//
// Contract of the hook path (DESIGN §3): no malloc, no exception, no lock held
// across a call that may allocate, no recursion (tls_state.hook_depth), and
// valid from the first allocation of the process to the last (all state is
// constant-initialized and trivially destructible; tables are mmap'ed).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "prof/live_block_store.h"
#include "prof/sampled_heap.h"
#include "prof/thread_state.h"

namespace syncscope::prof::internal {

// Frames between capture_stack's caller and the allocating user code:
// record_alloc_slow and the interposed function (malloc, new, ...), into
// which take_sample and on_alloc are always inlined.
inline constexpr int kHookFrames = 2;

// Bumped (release) after every change of the sampling rate or on/off state;
// a thread whose ThreadState::sampler_generation differs re-draws its sample
// distance when its countdown next runs out (sample_due_slow; at most
// kSamplerRecheckBytes later while sampling is off). Read relaxed there (a
// stale value only delays the re-draw to the next countdown).
extern std::atomic<std::uint32_t> g_sampler_generation;

// The slow paths (recording), out of line so the fast path stays small.
void record_alloc_slow(ThreadState& t, CounterSlot& s, void* p, std::size_t size, bool sample,
                       bool exact) noexcept;
void record_free_slow(ThreadState& t, CounterSlot& s, std::uintptr_t addr, bool sampled,
                      bool exact) noexcept;
void reset_sampler(ThreadState& t) noexcept;
// The countdown of `t` ran out on a request of `size` bytes: whether to
// sample it, after re-reading the sampler's settings if they changed since
// the countdown was drawn (a new thread, a fork child, start/stop or a new
// rate: the distance is drawn afresh for the current settings).
bool sample_due_slow(ThreadState& t, std::size_t size) noexcept;

// While sampling is off, a thread's countdown is this many bytes instead of
// "never", so a later start() or rate change reaches every thread within
// this much of its allocation (the thread that calls start() at once).
inline constexpr std::int64_t kSamplerRecheckBytes = 256 * 1024;

// glibc's malloc_usable_size for an in-use chunk, read from the chunk header
// (the exported function is weak in libc and interposed by us).
inline std::size_t usable_size(const void* p) noexcept {
  if (p == nullptr) return 0;
  const std::size_t head = static_cast<const std::size_t*>(p)[-1];
  const std::size_t chunk = head & ~std::size_t{7};  // low bits: PREV_INUSE, IS_MMAPPED, NON_MAIN_ARENA
  return (head & 2) != 0 ? chunk - 2 * sizeof(std::size_t) : chunk - sizeof(std::size_t);
}

// Before an allocation of `size` bytes: whether it is to be sampled. Counts
// the request against the calling thread's sampling distance (not inside the
// profiler: hook_depth > 0 never samples). A sampled request must be
// allocated at sampled_alignment() and reported to on_alloc with
// sample=true; the distance to the next sample is drawn there.
// The fast path is a countdown on the thread's own state: the sampler's
// settings (on/off, rate) are checked only when the countdown runs out
// (sample_due_slow), as tcmalloc does.
__attribute__((always_inline)) inline bool take_sample(std::size_t size) noexcept {
  ThreadState& t = tls_state;
  if (t.hook_depth != 0) return false;
  t.bytes_until_sample -= static_cast<std::int64_t>(size);
  return t.bytes_until_sample <= 0 && sample_due_slow(t, size);
}

// Whether a sampled request is allocated at SampledHeap::kSampledAlignment:
// at sampling rates of kAlignedSamplingMinRate bytes and above. Below that
// (rate 1 in tests, fixtures and exact-weight runs) nearly every request is
// sampled, and memalign for each would split the heap into a layout the
// program never has; those samples keep malloc's alignment, and the free
// path's address test is switched off for good
// (SampledHeap::note_unaligned_sample, called from here). Out of line: only
// sampled requests ask.
inline constexpr std::int64_t kAlignedSamplingMinRate = 4096;
bool align_samples() noexcept;

// The alignment to ask glibc for: `alignment` (0 = malloc's own), raised to
// SampledHeap::kSampledAlignment when the request is sampled (and
// align_samples()), so free() can rule out unsampled blocks by their address
// (sampled_heap.h).
inline std::size_t sampled_alignment(bool sample, std::size_t alignment) noexcept {
  if (!sample || !align_samples()) return alignment;
  return alignment > SampledHeap::kSampledAlignment ? alignment : SampledHeap::kSampledAlignment;
}

// After a successful allocation of `size` requested bytes at p; `sample`
// is take_sample()'s answer for this request (p is then
// kSampledAlignment-aligned). Always inlined into the interposer
// (kHookFrames counts on it).
__attribute__((always_inline)) inline void on_alloc(void* p, std::size_t size, bool sample) noexcept {
  ThreadState& t = tls_state;
  count_object(t, &CounterSlot::alloc_bytes, &CounterSlot::alloc_objects, usable_size(p));
  // relaxed: a flag; allocations racing with the switch may or may not be tracked.
  const bool exact = g_live_block_store.enabled.load(std::memory_order_relaxed);
  if ((sample || exact) && t.hook_depth == 0) {
    record_alloc_slow(t, counter_slot(t), p, size, sample, exact);
  }
}

// Before p (non-null) goes back to glibc. Always inlined, like on_alloc.
__attribute__((always_inline)) inline void on_free(void* p) noexcept {
  ThreadState& t = tls_state;
  count_object(t, &CounterSlot::free_bytes, &CounterSlot::free_objects, usable_size(p));
  // No early return at hook_depth > 0 (unlike on_alloc): a block allocated
  // outside the profiler (so tracked) can be freed inside it — e.g. a cache
  // rehashed under a HookGuard — and must leave the tables, or the live-block
  // table would list freed (possibly unmapped) memory for the retention
  // scanner to read. The slow path allocates nothing, so this cannot recurse.
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  const bool sampled = g_sampled_heap.maybe_sampled(addr);
  // relaxed: a flag; see on_alloc.
  const bool exact = g_live_block_store.ever_enabled.load(std::memory_order_relaxed);
  if (sampled || exact) record_free_slow(t, counter_slot(t), addr, sampled, exact);
}


// Configuration (called from HeapProfiler / LiveBlockTable, never from hooks).
void set_sampling(bool on, std::int64_t rate) noexcept;
bool sampling() noexcept;
std::int64_t sample_rate() noexcept;
void set_exact_mode(bool on) noexcept;
std::uint64_t samples_taken() noexcept;
// Sampled allocations the sampled heap could not hold (its table full or
// unmappable): the profile under-reports them.
std::uint64_t samples_dropped() noexcept;
// pthread_atfork handlers for every lock of the hook path (idempotent).
void install_fork_handlers() noexcept;
// Whether the interposers are linked in (false in sanitizer builds).
bool hooks_linked() noexcept;

// Unbiased weight of a sampled allocation: 1/P(sampled) = 1/(1-exp(-size/rate)).
double sample_weight(std::size_t size, std::int64_t rate) noexcept;

}  // namespace syncscope::prof::internal
