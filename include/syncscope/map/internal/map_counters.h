// Striped statistics counters for the maps: each thread adds to its own
// cache line (one of kStripes), readers sum the stripes. Never one hot shared
// counter, so counting a read hit writes no line another thread writes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace syncscope::map::internal {

inline constexpr std::size_t kStripes = 32;

// The calling thread's stripe, assigned round robin at first use: the first
// kStripes threads get distinct stripes.
inline std::size_t thread_stripe() noexcept {
  static std::atomic<std::size_t> next{0};
  // relaxed: only uniqueness of the ticket matters.
  thread_local const std::size_t index = next.fetch_add(1, std::memory_order_relaxed) % kStripes;
  return index;
}

enum class Counter : std::size_t {
  kHits,
  kMisses,
  kPromotions,
  kDirtyRebuilds,
  kExpunges,
  kCompactions,
  kReadDeletes,  // live -> deleted transitions of entries found in the read snapshot
  kCount,
};

class MapCounters {
 public:
  // Hot-path increment: a relaxed load and store on the thread's own stripe,
  // not an atomic read-modify-write. Exact while at most kStripes threads use
  // the map; beyond that two threads may share a stripe and an increment can
  // be lost (the figure is then a slight undercount — acceptable for stats).
  void bump(Counter c) noexcept {
    std::atomic<std::uint64_t>& v = stripes_[thread_stripe()].counters[index(c)];
    // relaxed: statistics only; publishes nothing.
    v.store(v.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

  // Exact increment (atomic read-modify-write), for counters off the hot path.
  void add(Counter c, std::uint64_t n = 1) noexcept {
    // relaxed: statistics only.
    stripes_[thread_stripe()].counters[index(c)].fetch_add(n, std::memory_order_relaxed);
  }

  // The caller's own stripe of counter `c` (for "every Nth event" checks).
  std::uint64_t own(Counter c) const noexcept {
    // relaxed: statistics only.
    return stripes_[thread_stripe()].counters[index(c)].load(std::memory_order_relaxed);
  }

  std::uint64_t sum(Counter c) const noexcept {
    std::uint64_t total = 0;
    // relaxed: a sum of stripes read at slightly different instants.
    for (const Stripe& s : stripes_) total += s.counters[index(c)].load(std::memory_order_relaxed);
    return total;
  }

  // The live-entry gauge behind size(): exact read-modify-writes, so that
  // stripes shared by several threads never drift.
  void add_live(std::int64_t delta) noexcept {
    // relaxed: a gauge; size() is documented as approximate under concurrency.
    stripes_[thread_stripe()].live.fetch_add(delta, std::memory_order_relaxed);
  }

  std::int64_t live() const noexcept {
    std::int64_t total = 0;
    // relaxed: see add_live.
    for (const Stripe& s : stripes_) total += s.live.load(std::memory_order_relaxed);
    return total;
  }

 private:
  static constexpr std::size_t index(Counter c) noexcept { return static_cast<std::size_t>(c); }

  struct alignas(64) Stripe {
    std::atomic<std::uint64_t> counters[static_cast<std::size_t>(Counter::kCount)] = {};
    std::atomic<std::int64_t> live{0};
  };
  static_assert(sizeof(Stripe) == 64, "one stripe per cache line: threads must not share lines");

  Stripe stripes_[kStripes];
};

}  // namespace syncscope::map::internal
