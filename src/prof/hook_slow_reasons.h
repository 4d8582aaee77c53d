// Why the interposers' fast paths must step aside (issue 16, item 3): one
// byte, each bit a switch that sends allocations or frees to the full
// recording path. The fast paths test it once (hook_slow_reason_set: one
// `testb` on x86-64) instead of one load and branch per switch.
//
// Each bit mirrors a flag that stays the source of truth for the slow paths
// (g_fault_armed, LiveBlockStore::enabled and ever_enabled,
// SampledHeap::untagged_samples_). A bit is set after its flag and cleared
// with it, so "bit clear" means "flag clear, or just being set": the fast
// path then behaves as if it ran just before the switch, as the flags alone
// allowed.
#pragma once

#include <atomic>
#include <cstdint>

namespace syncscope::prof::internal {

enum HookSlowReason : std::uint8_t {
  kSlowFaultArmed = 1,     // fault injection armed: allocations ask should_inject
  kSlowExactOn = 2,        // exact mode on: allocations are recorded
  kSlowExactEverOn = 4,    // exact mode was ever on: frees look the block up (never cleared)
  kSlowUntaggedSample = 8, // a sampled block has no prefix: every free asks the bitmap (never cleared)
};
inline constexpr std::uint8_t kAllocSlowReasons = kSlowFaultArmed | kSlowExactOn;
inline constexpr std::uint8_t kFreeSlowReasons = kSlowExactEverOn | kSlowUntaggedSample;

// The bits above that are set (`bits`). Written only through the two functions
// below; read by the hooks (acquire: pairs with raise_hook_slow_reason, so a
// hook that sees kSlowFaultArmed also sees the armed plan, [FI-arm]; a plain
// load on x86-64).
//
// The never-cleared bits are set together with kSlowExactOn or before the
// block they concern is published (note_untagged_sample runs before the
// sampled block is returned), so a free that happens after such an
// allocation reads them set (read-read and write-read coherence): an
// allocation recorded in exact mode, or a sampled block with an untagged
// chunk, is never freed by the fast path.
//
// A cache line of its own: every allocation and free reads it, and a
// neighbour written per sample would take the line away from the other
// cores each time.
struct alignas(64) HookSlowReasons {
  std::atomic<std::uint8_t> bits{0};
};
extern HookSlowReasons g_hook_slow_reasons;
// The hooks' hidden name for it (see the *_hidden names in heap_recorder.h).
extern HookSlowReasons g_hook_slow_reasons_hidden __attribute__((visibility("hidden")));

inline void raise_hook_slow_reason(std::uint8_t reasons) noexcept {
  // release: pairs with the hooks' acquire load; the flag it mirrors (and
  // the fault plan) were written before.
  g_hook_slow_reasons.bits.fetch_or(reasons, std::memory_order_release);
}

inline void clear_hook_slow_reason(std::uint8_t reasons) noexcept {
  // relaxed: a fast path that still sees the bit takes the slow path, which
  // reads the flag itself.
  g_hook_slow_reasons.bits.fetch_and(static_cast<std::uint8_t>(~reasons), std::memory_order_relaxed);
}

// Under ThreadSanitizer hook_slow_reason_set keeps the atomic load.
#if defined(__SANITIZE_THREAD__)  // GCC
#define SYNCSCOPE_HOOK_TEST_ATOMIC 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)  // Clang
#define SYNCSCOPE_HOOK_TEST_ATOMIC 1
#endif
#endif

// Whether any bit of `Mask` is set, as the interposers' fast paths ask it
// (g_hook_slow_reasons_hidden, their name for the object). On x86-64 it is
// one `testb` of the byte in memory: GCC never folds an atomic load into
// another instruction, and the load, mask and test took three in `malloc`
// and two in `free`. An aligned byte read is atomic on x86-64, and every
// load there has acquire ordering in hardware; `Acquire` adds a compiler
// barrier so that nothing read after the test (the fault plan of
// kSlowFaultArmed) is read before it. Under ThreadSanitizer the atomic
// load stays, so that the tool sees the acquire.
template <std::uint8_t Mask, bool Acquire>
__attribute__((always_inline)) inline bool hook_slow_reason_set(const HookSlowReasons& reasons) noexcept {
#if defined(__x86_64__) && !defined(SYNCSCOPE_HOOK_TEST_ATOMIC)
  bool set;
  if constexpr (Acquire) {
    asm volatile("testb %[mask], %[bits]" : "=@ccnz"(set) : [bits] "m"(reasons.bits), [mask] "i"(Mask) : "memory");
  } else {
    asm volatile("testb %[mask], %[bits]" : "=@ccnz"(set) : [bits] "m"(reasons.bits), [mask] "i"(Mask));
  }
  return set;
#else
  return (reasons.bits.load(Acquire ? std::memory_order_acquire : std::memory_order_relaxed) & Mask) != 0;
#endif
}

}  // namespace syncscope::prof::internal
