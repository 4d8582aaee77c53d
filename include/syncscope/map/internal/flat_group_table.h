// The table of FlatGroupMap: a power-of-two array of groups, each 15 slots
// that embed their key and value, the group's metadata (group_meta.h), its
// lock, and the insert counter of the keys whose probe starts there.
//
//   Group (8-byte aligned: 264 bytes for int64 pairs)
//   ┌──────────────┬──────┬──────────────┬─────────────────────────────┐
//   │ meta 16 B    │ lock │ insert count │ slot 0 .. slot 14 (K, V)     │
//   └──────────────┴──────┴──────────────┴─────────────────────────────┘
//
// A key's probe sequence starts at its home group (the top bits of its
// mixed hash) and visits every group once, by triangular steps. The table
// does no locking itself: FlatGroupMap holds a group's lock for every
// access to its slots, and the table gate (striped_rw_lock.h) for every use
// of the table.
#pragma once

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "syncscope/map/internal/group_meta.h"

namespace syncscope::map::internal {

// Not padded to a cache line: for int64 pairs that would cost 56 bytes a
// group (17 % of the table), while a group's header shares a line only with
// the previous group's last slots.
template <class Slot, class Lock>
struct FlatGroup {
  GroupMeta meta;
  mutable Lock lock;  // guards the slots and meta's writes
  // Bumped (under this or another group's lock) by every insert whose home
  // is this group, after it tags its slot and before it builds the key. An
  // insert notes it before its lookup and re-checks it when it claims a
  // slot: a change means another insert from the same home may have placed
  // the same key meanwhile, and the insert starts over.
  std::atomic<std::uint32_t> insert_count{0};
  Slot slots[kGroupSlots];
};

// Visits every group of a power-of-two table once: home, home+1, home+3, ...
class Prober {
 public:
  Prober(std::size_t home, std::size_t mask) noexcept : pos_(home), mask_(mask) {}
  std::size_t pos() const noexcept { return pos_; }
  void next() noexcept {
    ++step_;
    pos_ = (pos_ + step_) & mask_;
  }

 private:
  std::size_t pos_;
  std::size_t step_ = 0;
  const std::size_t mask_;
};

template <class Group>
class FlatGroupTable {
 public:
  // groups: a power of two, at least 2.
  explicit FlatGroupTable(std::size_t groups)
      : groups_(new Group[groups]),
        group_count_(groups),
        home_shift_(64 - std::countr_zero(groups)) {}

  Group& group(std::size_t i) noexcept { return groups_[i]; }
  const Group& group(std::size_t i) const noexcept { return groups_[i]; }
  std::size_t group_count() const noexcept { return group_count_; }
  std::size_t mask() const noexcept { return group_count_ - 1; }
  std::size_t capacity() const noexcept { return group_count_ * kGroupSlots; }
  std::size_t home(const HashedKey& h) const noexcept {
    return static_cast<std::size_t>(h.mixed >> home_shift_);
  }
  Prober prober(const HashedKey& h) const noexcept { return Prober(home(h), mask()); }

  // Growth threshold: 7/8 of the slots (Boost's and abseil's maximum load).
  std::size_t max_load() const noexcept { return capacity() / 8 * 7; }
  // How many inserts a gate stripe may count locally before adding them to
  // load (below): the load is then off by at most kStripes * chunk, about
  // capacity / 16.
  std::int64_t count_chunk() const noexcept {
    return static_cast<std::int64_t>(capacity() / 512 + 1);
  }

  // Slots in use, give or take the inserts and erases the gate stripes
  // have counted but not yet added (in chunks). relaxed everywhere: a
  // counter; the rehash recounts exactly.
  std::atomic<std::int64_t> load{0};
  // Erases from groups with overflow bits set since the last rehash. Their
  // slots free up but the overflow bits stay, so lookups keep probing past
  // those groups: growth counts them as still in use (load + this past
  // max_load() rehashes, clearing the bits), as Boost does by lowering its
  // maximum load. relaxed: a counter, as load.
  std::atomic<std::int64_t> overflow_erases{0};

  // The smallest group count whose table holds n keys at most 7/16 full
  // (half the maximum load, so that both a grown and a shrunk table take
  // O(capacity) inserts before the next rehash).
  static std::size_t groups_for(std::size_t n) noexcept {
    std::size_t groups = kMinGroups;
    while (groups * kGroupSlots * 7 / 16 < n) groups *= 2;
    return groups;
  }
  static constexpr std::size_t kMinGroups = 2;

 private:
  std::unique_ptr<Group[]> groups_;
  const std::size_t group_count_;
  const int home_shift_;  // 64 - log2(group_count_)
};

}  // namespace syncscope::map::internal
