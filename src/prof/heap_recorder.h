// The recording side of the allocation hooks: what malloc/free/new/delete
// call after (allocation) or before (free) the real glibc function.
//
// Contract of the hook path (DESIGN §3): no malloc, no exception, no lock held
// across a call that may allocate, no recursion (tls_state.hook_depth), and
// valid from the first allocation of the process to the last (all state is
// constant-initialized and trivially destructible; tables are mmap'ed).
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "prof/fault_point.h"
#include "prof/hook_slow_reasons.h"
#include "prof/live_block_store.h"
#include "prof/sampled_heap.h"
#include "prof/sampled_prefix.h"
#include "prof/thread_state.h"

namespace syncscope::prof::internal {

// Frames between capture_stack's caller and the allocating user code:
// record_alloc_slow and the interposed function (malloc, new, ...), into
// which take_sample and on_alloc are always inlined.
inline constexpr int kHookFrames = 2;
// The same for the interposers' out-of-line slow paths (malloc_slow,
// new_slow_path), which the interposer calls (never tail-calls: see
// keep_frame) after its fast path declined: one frame more.
inline constexpr int kHookFramesOutOfLine = kHookFrames + 1;

// Makes a call that returns v not the last thing its caller does, so the
// compiler cannot turn it into a tail call that would drop the caller's
// frame (kHookFramesOutOfLine counts it). Emits no instruction.
template <class T>
__attribute__((always_inline)) inline T keep_frame(T v) noexcept {
  __asm__ volatile("" : "+r"(v));
  return v;
}

// Bumped (release) after every change of the sampling rate or on/off state;
// a thread whose ThreadState::sampler_generation differs re-draws its sample
// distance when its countdown next runs out (sample_due_slow; at most
// kSamplerRecheckBytes later while sampling is off). Read relaxed there (a
// stale value only delays the re-draw to the next countdown).
extern std::atomic<std::uint32_t> g_sampler_generation;

// The slow paths (recording), out of line so the fast path stays small.
// `frames`: frames between it and the allocating user code (kHookFrames or
// kHookFramesOutOfLine).
void record_alloc_slow(ThreadState& t, CounterSlot& s, void* p, std::size_t size, bool sample,
                       bool exact, int frames) noexcept;
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

// The word before the in-use block p (non-null): for a block glibc handed
// out, its chunk's header word (the chunk size, with PREV_INUSE, IS_MMAPPED
// and NON_MAIN_ARENA in bits 0-2); for a sampled block behind a prefix, its
// tag (is_sampled_tag: sampled_prefix.h).
inline std::size_t chunk_head(const void* p) noexcept { return static_cast<const std::size_t*>(p)[-1]; }

// IS_MMAPPED, bit 1 of glibc's chunk header word.
inline constexpr std::size_t kChunkMmapped = 2;

// The chunk size in glibc's chunk header word `head`: the word without its
// low bits PREV_INUSE, IS_MMAPPED and NON_MAIN_ARENA.
inline std::size_t chunk_size_of_head(std::size_t head) noexcept { return head & ~std::size_t{7}; }

// glibc's malloc_usable_size for an in-use chunk whose header word is `head`:
// the chunk size less the header, and less one more word when mmapped
// (written without a branch: 4 * IS_MMAPPED is that word).
inline std::size_t usable_size_of_head(std::size_t head) noexcept {
  static_assert(kChunkMmapped * 4 == sizeof(std::size_t));
  return chunk_size_of_head(head) - sizeof(std::size_t) - (head & kChunkMmapped) * 4;
}

// What the slots' byte counters add for an in-use chunk whose header word
// is `head` (thread_state.h, CounterSlot): its usable size plus 8, that is
// the chunk size, less 8 when mmapped. The fast paths add the chunk size
// alone (an mmapped chunk never takes the free fast path, and malloc's takes
// 8 off in a cold branch), and HeapProfiler::counters() turns the sums back
// into usable bytes: usable_bytes_counted.
inline std::size_t counted_bytes_of_head(std::size_t head) noexcept {
  return usable_size_of_head(head) + sizeof(std::size_t);
}
// The usable bytes of `objects` blocks whose counted bytes sum to `counted`.
inline std::uint64_t usable_bytes_counted(std::uint64_t counted, std::uint64_t objects) noexcept {
  const std::uint64_t headers = objects * sizeof(std::size_t);
  // A racy read may pair a newer object count with older bytes: never wrap.
  return counted >= headers ? counted - headers : 0;
}

// What the slots' byte counters add for the in-use block p (non-null), the
// word before which is `word` (chunk_head(p)): counted_bytes_of_head of its
// chunk, less a sampled block's prefix, so that the counters sum what
// malloc_usable_size says of each block.
inline std::size_t counted_bytes_of_block(const void* p, std::size_t word) noexcept {
  if (!is_sampled_tag(word)) return counted_bytes_of_head(word);
  const std::size_t offset = sampled_offset(word);
  return counted_bytes_of_head(chunk_head(static_cast<const std::byte*>(p) - offset)) - offset;
}

// malloc_usable_size of the in-use block p, read from its chunk header (the
// exported function is weak in libc and interposed by us): glibc's, less
// the prefix of a sampled block.
inline std::size_t usable_size(const void* p) noexcept {
  if (p == nullptr) return 0;
  return counted_bytes_of_block(p, chunk_head(p)) - sizeof(std::size_t);
}

// Before an allocation of `size` bytes: whether it is to be sampled. Counts
// the request against the calling thread's sampling distance (not inside the
// profiler: hook_depth > 0 never samples). A sampled request must be
// allocated behind a prefix (hooks/sampled_alloc.h) and reported to
// on_alloc with sample=true; the distance to the next sample is drawn there.
// The fast path is a countdown on the thread's own state: the sampler's
// settings (on/off, rate) are checked only when the countdown runs out
// (sample_due_slow), as tcmalloc does.
__attribute__((always_inline)) inline bool take_sample(std::size_t size) noexcept {
  ThreadState& t = tls_state;
  if (t.hook_depth != 0) return false;
  t.bytes_until_sample -= static_cast<std::int64_t>(size);
  return t.bytes_until_sample <= 0 && sample_due_slow(t, size);
}

// Whether a sampled request is given a prefix (sampled_prefix.h): at
// sampling rates of kTaggedSamplingMinRate bytes and above. Below that
// (rate 1 in tests, fixtures and exact-weight runs) nearly every request is
// sampled, and a prefix on each would change the heap's layout everywhere;
// those samples keep glibc's block, and every free goes on to the sampled
// heap's bitmap from then on (SampledHeap::note_untagged_sample, called from
// here). Out of line: only sampled requests ask.
inline constexpr std::int64_t kTaggedSamplingMinRate = 4096;
bool tag_samples() noexcept;

// After a successful allocation of `size` requested bytes at p; `sample`
// is take_sample()'s answer for this request (p is then behind a prefix,
// unless note_untagged_sample() was called). Always inlined into the
// interposer or its out-of-line slow path, which passes `frames` =
// kHookFramesOutOfLine.
__attribute__((always_inline)) inline void on_alloc(void* p, std::size_t size, bool sample,
                                                    int frames = kHookFrames) noexcept {
  ThreadState& t = tls_state;
  count_object(t, &CounterSlot::alloc_bytes, &CounterSlot::alloc_objects, counted_bytes_of_block(p, chunk_head(p)));
  // relaxed: a flag; allocations racing with the switch may or may not be tracked.
  const bool exact = g_live_block_store.enabled.load(std::memory_order_relaxed);
  if ((sample || exact) && t.hook_depth == 0) {
    record_alloc_slow(t, counter_slot(t), p, size, sample, exact, frames);
  }
}

// Before p (non-null) goes back to glibc. Always inlined, like on_alloc.
__attribute__((always_inline)) inline void on_free(void* p) noexcept {
  ThreadState& t = tls_state;
  const std::size_t word = chunk_head(p);
  count_object(t, &CounterSlot::free_bytes, &CounterSlot::free_objects, counted_bytes_of_block(p, word));
  // No early return at hook_depth > 0 (unlike on_alloc): a block allocated
  // outside the profiler (so tracked) can be freed inside it — e.g. a cache
  // rehashed under a HookGuard — and must leave the tables, or the live-block
  // table would list freed (possibly unmapped) memory for the retention
  // scanner to read. The slow path allocates nothing, so this cannot recurse.
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  const bool sampled = g_sampled_heap.maybe_sampled(addr, word);
  // relaxed: a flag; see on_alloc.
  const bool exact = g_live_block_store.ever_enabled.load(std::memory_order_relaxed);
  if (sampled || exact) record_free_slow(t, counter_slot(t), addr, sampled, exact);
}

// The fast path reads one global, g_hook_slow_reasons, and reads it under a
// second name with hidden visibility (issue 16, item 3):
// g_hook_slow_reasons_hidden (hook_slow_reasons.h), an alias defined next
// to the object; the exported name stays for the extension objects. Through
// a hidden name the compiler addresses the object relative to the code
// instead of loading its address from the GOT: in libsyncscope_preload.so
// (where the exported names can be preempted, so every access goes through
// the GOT) that is one load fewer per call. Only the interposers may use the
// name: they are linked into the preload core object and the program, never
// into an extension object (which would pull a second copy of the object out
// of the archive to satisfy a hidden reference).

// The fast path of the interposers (issue 16, item 3): the one case in
// which take_sample + on_alloc (or on_free) reduce to a countdown and two
// counter adds. The interposers try it first and fall back to the full path
// (fault injection, sampling, exact mode, the profiler's own allocations, a
// thread without a slot), whose effects it reproduces exactly for its case.
// Both stay inline in the interposer, so the frames between the recorder and
// the user's code (kHookFrames) do not change.
//
// Whether a request of `size` bytes takes the fast path: nothing armed, exact
// mode off, not inside the profiler and an owned counter slot (both:
// fast_slot), and the countdown does not run out. If so the countdown is
// charged (as take_sample would) and the slot to count into is returned; the
// caller allocates with glibc and, on success, calls count_fast_alloc with
// it. nullptr: take the full path.
__attribute__((always_inline)) inline CounterSlot* take_fast_alloc(std::size_t size) noexcept {
  ThreadState& t = tls_state;
  CounterSlot* const s = t.fast_slot;
  const std::int64_t left = t.bytes_until_sample - static_cast<std::int64_t>(size);
  // Three branches, each predicted not taken. The empty asm statements (no
  // instruction) keep the compiler from merging the tests into one condition
  // built with setcc and or, three instructions more.
  if (__builtin_expect(s == nullptr, 0)) return nullptr;
  __asm__("");
  if (__builtin_expect(left <= 0, 0)) return nullptr;
  __asm__("");
  // acquire: pairs with raise_hook_slow_reason (hook_slow_reasons.h).
  if (__builtin_expect(hook_slow_reason_set<kAllocSlowReasons, true>(g_hook_slow_reasons_hidden), 0)) return nullptr;
  t.bytes_until_sample = left;
  return s;
}
// Counts the block p (non-null) that a fast-path request got from glibc
// into `s`, take_fast_alloc's answer (glibc's allocation functions never
// call back into the hooks, so it is still the thread's fast_slot): the
// chunk size, less 8 for an mmapped chunk (counted_bytes_of_head, the rare
// case out of the way). The mmapped bit is tested in the header's low byte
// in memory (one `testb`): tested in the register, the compiler kept a copy
// of the unmasked header for it, one `mov` more.
__attribute__((always_inline)) inline void count_fast_alloc(CounterSlot* s, void* p) noexcept {
  const std::size_t size = chunk_size_of_head(chunk_head(p));
  constexpr std::ptrdiff_t kLowByte =
      std::endian::native == std::endian::little ? -static_cast<std::ptrdiff_t>(sizeof(std::size_t)) : -1;
  const auto low_byte = static_cast<const unsigned char*>(p)[kLowByte];
  if (__builtin_expect((low_byte & kChunkMmapped) != 0, 0)) {
    // counted_bytes_of_head of an mmapped chunk: its size less 8.
    owner_count(*s, &CounterSlot::alloc_bytes, &CounterSlot::alloc_objects, size - sizeof(std::size_t));
    return;
  }
  owner_count(*s, &CounterSlot::alloc_bytes, &CounterSlot::alloc_objects, size);
}
// Whether freeing p (non-null), the word before which is `head`, is all
// that on_free would do for it on a thread whose fast_slot is `s`: an owned
// slot outside the profiler, p not a sampled block (its word is glibc's
// header, not a tag: sampled_prefix.h), exact mode never on, no sampled
// block without a prefix. An mmapped chunk is not (its counted bytes are
// not its chunk size, and its free is a munmap anyway). No side effects.
__attribute__((always_inline)) inline bool fast_free_ok(const CounterSlot* s, std::size_t head) noexcept {
  // Each test a branch of its own, the switch byte tested in memory.
  if (__builtin_expect(s == nullptr, 0)) return false;
  // relaxed: the bits a free needs are ordered by coherence (hook_slow_reasons.h).
  if (__builtin_expect(hook_slow_reason_set<kFreeSlowReasons, false>(g_hook_slow_reasons_hidden), 0)) return false;
  return __builtin_expect((head & (kChunkMmapped | kSampledTagBit)) == 0, 1);
}
// Counts a freed block whose chunk header word is `head` into the owned
// slot `s` (fast_free_ok said yes, so the chunk is not mmapped and its
// counted bytes are its chunk size).
__attribute__((always_inline)) inline void count_fast_free(CounterSlot& s, std::size_t head) noexcept {
  owner_count(s, &CounterSlot::free_bytes, &CounterSlot::free_objects, chunk_size_of_head(head));
}
// Before p (non-null) goes back to glibc: counts it and returns true when
// fast_free_ok; false and nothing done otherwise (call on_free).
__attribute__((always_inline)) inline bool take_fast_free(void* p) noexcept {
  CounterSlot* s = tls_state.fast_slot;
  // One read of the chunk header serves the tag test and the byte count.
  const std::size_t head = chunk_head(p);
  if (__builtin_expect(!fast_free_ok(s, head), 0)) return false;
  count_fast_free(*s, head);
  return true;
}

// A function the recording path calls after each sample it records, on the
// allocating thread, inside the hook (hook_depth raised: its own allocations
// are not recorded), outside every profiler lock; nullptr for none. The
// LD_PRELOAD object starts its dumper thread from there when a dump was
// asked for in a single-threaded program (preload_main.cc). Set once, at
// start-up.
using SampleListener = void (*)() noexcept;
void set_sample_listener(SampleListener listener) noexcept;

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
