// ThreadRing: see trace_buffer.h for the protocol and its labels.
#include <algorithm>
#include <bit>
#include <cstring>

#include <sys/mman.h>

#include "task/trace_buffer.h"

namespace syncscope::task::internal {

static_assert(sizeof(TraceEvent) % sizeof(std::uint64_t) == 0, "an event is copied as whole words");
static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free, "slot words are plain stores");

namespace {
constexpr std::size_t kMaxCapacity = std::size_t{1} << 40;  // events
}  // namespace

ThreadRing::ThreadRing(pid_t t, std::string n, std::size_t cap)
    : tid(t),
      thread_name(std::move(n)),
      // Clamped first: bit_ceil of a value above 2^63 is undefined (mmap
      // refuses far smaller rings anyway, and ok() then reports it).
      capacity(std::bit_ceil(std::clamp<std::size_t>(cap, 1, kMaxCapacity))) {
  // Zero-filled by the kernel, like calloc's large blocks.
  void* p = ::mmap(nullptr, bytes(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  slots_ = p == MAP_FAILED ? nullptr : static_cast<std::uint64_t*>(p);
}

ThreadRing::~ThreadRing() {
  if (slots_ != nullptr) ::munmap(slots_, bytes());
}

void ThreadRing::copy_since(std::int64_t since_ns, std::vector<TraceEvent>& out) const {
  if (slots_ == nullptr) return;
  // [R2] acquire: the words of every event below `end` are visible; pairs with [W2].
  const std::uint64_t end = committed_.load(std::memory_order_acquire);
  const std::uint64_t first = end > capacity ? end - capacity : 0;
  std::vector<TraceEvent> copy(end - first);
  for (std::uint64_t i = first; i < end; ++i) {
    std::uint64_t words[kWords];
    const std::uint64_t* slot = slots_ + (i & (capacity - 1)) * kWords;
    for (std::size_t w = 0; w < kWords; ++w) {
      // [R1] acquire: if this reads a word of a newer event k (an overwrite),
      // the begun_ load below sees k + 1 or more; pairs with [W1].
      words[w] = std::atomic_ref<std::uint64_t>(const_cast<std::uint64_t&>(slot[w])).load(std::memory_order_acquire);
    }
    std::memcpy(&copy[i - first], words, sizeof words);
  }
  const std::uint64_t begun = begun_.load(std::memory_order_relaxed);  // ordered after [R1]
  // Event i's slot is rewritten by event i + capacity: only indices with
  // i + capacity >= begun are certainly whole.
  const std::uint64_t whole_from = std::max(first, begun > capacity ? begun - capacity : 0);
  for (std::uint64_t i = whole_from; i < end; ++i) {
    const TraceEvent& e = copy[i - first];
    // A whole task slice is kept when it ends in the window.
    const std::int64_t ts = e.type == EventType::kTask ? e.ts_ns + e.slice.duration_ns : e.ts_ns;
    if (ts >= since_ns) out.push_back(e);
  }
}

std::uint64_t ThreadRing::written() const noexcept {
  return committed_.load(std::memory_order_relaxed);  // relaxed: statistics
}

std::uint64_t ThreadRing::overwritten() const noexcept {
  const std::uint64_t n = written();
  return n > capacity ? n - capacity : 0;
}

}  // namespace syncscope::task::internal
