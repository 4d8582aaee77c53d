// Spawn stacks reused per call site: see spawn_stack_cache.h.
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "task/spawn_stack_cache.h"

#include <pthread.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>

#include "prof/unwind_frames.h"
#include "prof/unwind_gate.h"
#include "syncscope/prof/stack_trace.h"

namespace syncscope::task::internal {
namespace {

constexpr int kDepth = prof::kMaxStackDepth;
// Distinct (site, depth) pairs one thread spawns from repeatedly; a ninth
// evicts by hash, and an evicted key is unwound as before.
constexpr std::size_t kEntries = 8;
static_assert((kEntries & (kEntries - 1)) == 0, "the index is a mask of the key's hash");
// A key whose live stack keeps differing from its entry (the same function
// reached at the same depth through different callers) stops being refilled
// after this many fills: it then costs one unwind as before, plus a compare.
constexpr int kMaxFills = 3;

// One cached spawn stack. All fields are read and written by the owning
// thread only.
struct Entry {
  // The key; return_address == 0: empty.
  std::uintptr_t spawn_pc = 0;        // return address into the spawn function: pcs[0]
  std::uintptr_t return_address = 0;  // the spawn function's return address: pcs[1]
  std::uintptr_t cfa = 0;             // the spawn function's canonical frame address
  bool filled = false;  // pcs and slots are valid for [0, depth); else only seen
  int fills = 0;        // times filled since the key took the entry (<= kMaxFills)
  int depth = 0;
  std::uintptr_t pcs[kDepth];
  std::uintptr_t slots[kDepth];  // slots[i] held pcs[i] (i >= 1); in [cfa, stack_hi)
};

struct ThreadCache {
  Entry entries[kEntries];
  std::uintptr_t stack_hi = 0;  // one past the top of this thread's stack; 0 = unknown
};

// The calling thread's cache (null until its first fill), and the owner that
// unmaps it when the thread exits. The plain pointer is what the per-spawn
// path reads: a trivially destructible thread_local needs no TLS guard.
thread_local ThreadCache* tl_cache = nullptr;
// Set when the owner's destructor has run (the thread is exiting): a spawn
// from a later thread-exit destructor unwinds without a cache rather than
// mapping one that nothing would unmap.
thread_local bool tl_cache_closed = false;
struct CacheOwner {
  ~CacheOwner() {
    if (tl_cache != nullptr) ::munmap(tl_cache, sizeof(ThreadCache));
    tl_cache = nullptr;
    tl_cache_closed = true;
  }
};
thread_local CacheOwner tl_owner;
thread_local SpawnStackCacheStats tl_stats;
// Captures this thread made without a cache: the cache is mapped on the
// second, so a thread that spawns once maps nothing and reads no bounds.
thread_local int tl_uncached_captures = 0;

ThreadCache* my_cache() noexcept {
  if (tl_cache != nullptr) [[likely]] return tl_cache;
  if (tl_cache_closed) return nullptr;
  void* p = ::mmap(nullptr, sizeof(ThreadCache), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  auto* cache = new (p) ThreadCache;
  (void)&tl_owner;  // odr-use: registers the owner's destructor for this thread
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* lo = nullptr;
    std::size_t size = 0;
    if (pthread_attr_getstack(&attr, &lo, &size) == 0) {
      cache->stack_hi = reinterpret_cast<std::uintptr_t>(lo) + size;
    }
    pthread_attr_destroy(&attr);
  }
  tl_cache = cache;
  return cache;
}

std::size_t index_of(std::uintptr_t spawn_pc, std::uintptr_t ra, std::uintptr_t cfa) noexcept {
  const std::uintptr_t h = (spawn_pc ^ (ra * 0x9E3779B97F4A7C15ULL) ^ (cfa >> 4)) * 0xBF58476D1CE4E5B9ULL;
  return static_cast<std::size_t>(h >> 59) & (kEntries - 1);
}

// Reads this thread's own stack at addresses the entry proved to lie in
// [cfa, stack_hi) when it was filled; the caller's CFA is the same now, so
// they are live frames of callers (or, for a changed chain, their locals).
// No ASan check: such a slot may now be inside a caller's redzone.
__attribute__((no_sanitize("address"))) bool slots_still_hold(const Entry& e) noexcept {
  for (int i = 2; i < e.depth; ++i) {
    if (*reinterpret_cast<const std::uintptr_t*>(e.slots[i]) != e.pcs[i]) return false;
  }
  return true;
}

int copy_out(const Entry& e, std::uintptr_t* pcs, int max_frames) noexcept {
  const int n = std::min(e.depth, max_frames);
  std::copy_n(e.pcs, n, pcs);
  return n;
}

// Unwinds with a cursor from this function's caller's frame, keeping each
// frame's stack pointer, and fills `e` when the walk confirms the key and
// every slot lies in [cfa, stack_hi). Returns false, leaving `e` as it was,
// when no walk was made because a fork is under way (unwind_gate.h).
// noinline: frame 0 of the walk is this function and frame 1 the spawn
// function.
__attribute__((noinline)) bool fill(Entry& e, std::uintptr_t stack_hi) noexcept {
  const prof::internal::UnwindGateScope walk;
  if (!walk.open()) return false;
  e.filled = false;
  e.depth = 0;
  unw_context_t context;
  unw_cursor_t cursor;
  if (unw_getcontext(&context) != 0 || unw_init_local(&cursor, &context) != 0) return true;
  // Frame 0 is fill, frame 1 capture_spawn_stack_at, frame 2 the spawn
  // function (pc = spawn_pc), frame 3 its caller (pc = return_address).
  constexpr int kOwnFrames = 2;
  std::uintptr_t pc[kDepth + kOwnFrames];
  std::uintptr_t sp[kDepth + kOwnFrames];
  const int n = prof::internal::collect_frames(&cursor, pc, sp, kDepth + kOwnFrames);
  if (n < kOwnFrames + 2 || pc[kOwnFrames] != e.spawn_pc || pc[kOwnFrames + 1] != e.return_address ||
      sp[kOwnFrames + 1] != e.cfa) {
    return true;  // not the frames the key describes: never cache
  }
  const int depth = n - kOwnFrames;
  for (int i = 0; i < depth; ++i) {
    e.pcs[i] = pc[i + kOwnFrames];
    // pcs[i] (i >= 1) is the return address of frame i - 1, stored just
    // below that frame's CFA, which is frame i's stack pointer.
    e.slots[i] = i == 0 ? 0 : sp[i + kOwnFrames] - sizeof(std::uintptr_t);
    if (i >= 1 && (e.slots[i] < e.cfa - sizeof(std::uintptr_t) || e.slots[i] + sizeof(std::uintptr_t) > stack_hi ||
                   *reinterpret_cast<const std::uintptr_t*>(e.slots[i]) != e.pcs[i])) {
      return true;  // outside the stack (e.g. a signal stack) or not a plain return slot
    }
  }
  e.depth = depth;
  e.filled = true;
  ++e.fills;
  return true;
}

}  // namespace

__attribute__((noinline)) int capture_spawn_stack_at(std::uintptr_t return_address, std::uintptr_t cfa,
                                                     std::uintptr_t* pcs, int max_frames) noexcept {
  if (pcs == nullptr || max_frames <= 0) return 0;
#if defined(__x86_64__)
  const auto spawn_pc = reinterpret_cast<std::uintptr_t>(__builtin_return_address(0));
  ThreadCache* cache = tl_cache;
  if (cache == nullptr) {
    if (tl_uncached_captures < 2) ++tl_uncached_captures;
    if (tl_uncached_captures >= 2) cache = my_cache();
  }
  if (cache == nullptr) ++tl_stats.first_seen;
  if (cache != nullptr && cache->stack_hi != 0) {
    Entry& e = cache->entries[index_of(spawn_pc, return_address, cfa)];
    const bool same_key = e.return_address == return_address && e.cfa == cfa && e.spawn_pc == spawn_pc;
    if (same_key && e.filled) {
      if (slots_still_hold(e)) [[likely]] {
        ++tl_stats.hits;
        return copy_out(e, pcs, max_frames);
      }
      ++tl_stats.stale;
      e.filled = false;  // unwound below; refilled next time while fills < kMaxFills
    } else if (same_key && e.fills < kMaxFills) {
      if (fill(e, cache->stack_hi)) {
        if (e.filled) {
          ++tl_stats.filled;
          return copy_out(e, pcs, max_frames);
        }
        e.fills = kMaxFills;  // the walk did not confirm the key: stop trying
      }
    } else if (!same_key) {
      e.spawn_pc = spawn_pc;
      e.return_address = return_address;
      e.cfa = cfa;
      e.filled = false;
      e.fills = 0;
      ++tl_stats.first_seen;
    }
  }
#else
  (void)return_address;
  (void)cfa;
#endif
  // skip 1: this function's frame; pcs[0] is then in the spawn function.
  const int n = prof::capture_stack(pcs, max_frames, 1);
  asm volatile("" ::: "memory");  // not a tail call, which would drop this frame before the skip
  return n;
}

SpawnStackCacheStats spawn_stack_cache_stats() noexcept { return tl_stats; }

}  // namespace syncscope::task::internal
