#include "task/record_pool.h"

#include <atomic>
#include <cstdint>

namespace syncscope::task::internal {

// Under ASan the pool is bypassed, so that a use of a released record is
// still reported as a use after free.
#if defined(SYNCSCOPE_ASAN)
void* take_record_block() { return ::operator new(kRecordBlockSize); }
void give_record_block(void* block) noexcept { ::operator delete(block); }
#else

namespace {

struct FreeBlock {
  FreeBlock* next;
};

constexpr int kPointerBits = 48;
constexpr std::uint64_t kPointerMask = (std::uint64_t{1} << kPointerBits) - 1;
static_assert(sizeof(void*) == 8, "the shared stack packs a pointer and a count into one word");
static_assert(kMaxSharedBlocks < (std::uint64_t{1} << (64 - kPointerBits)), "the count fits the top bits");
static_assert(kRecordBlockSize >= sizeof(FreeBlock));

// The shared stack: (count << kPointerBits) | top. Pushed by give (any
// thread), taken whole by take (spawners).
std::atomic<std::uint64_t> g_shared{0};

FreeBlock* top_of(std::uint64_t word) { return reinterpret_cast<FreeBlock*>(word & kPointerMask); }

// The spawner's private blocks. Trivially destructible fields so that a
// take() after the thread's destructors ran (a task spawned from another
// thread_local's destructor) still finds a valid object: `dead` then sends
// it to operator new and nothing is cached again.
struct ThreadCache {
  FreeBlock* head = nullptr;  // this thread only
  bool dead = false;          // this thread only; set by the destructor
  ~ThreadCache() {
    dead = true;
    while (head != nullptr) {
      FreeBlock* b = head;
      head = b->next;
      ::operator delete(b);
    }
  }
};
thread_local ThreadCache tl_cache;

}  // namespace

void* take_record_block() {
  ThreadCache& cache = tl_cache;
  if (cache.head == nullptr && !cache.dead) {
    // acquire: the blocks' `next` links written by their pushers are
    // visible; pairs with [P1].
    cache.head = top_of(g_shared.exchange(0, std::memory_order_acquire));
  }
  if (FreeBlock* b = cache.head) {
    cache.head = b->next;
    b->~FreeBlock();
    return b;
  }
  return ::operator new(kRecordBlockSize);
}

void give_record_block(void* block) noexcept {
  const auto address = reinterpret_cast<std::uint64_t>(block);
  if ((address & ~kPointerMask) != 0) {  // beyond 48-bit user space (5-level paging): not poolable
    ::operator delete(block);
    return;
  }
  FreeBlock* b = new (block) FreeBlock{nullptr};
  std::uint64_t old = g_shared.load(std::memory_order_relaxed);  // relaxed: re-read by the CAS
  for (;;) {
    const std::uint64_t count = old >> kPointerBits;
    if (count >= kMaxSharedBlocks) {
      b->~FreeBlock();
      ::operator delete(block);
      return;
    }
    b->next = top_of(old);
    // [P1] release: publishes b->next (and the block's last use) to the
    // thread that takes the stack; pairs with the acquire exchange in take.
    if (g_shared.compare_exchange_weak(old, ((count + 1) << kPointerBits) | address,
                                       std::memory_order_release, std::memory_order_relaxed)) {
      return;
    }
  }
}
#endif  // SYNCSCOPE_ASAN

}  // namespace syncscope::task::internal
