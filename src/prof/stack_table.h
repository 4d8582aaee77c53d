// Interned allocation stacks: the same stack captured twice gets the same id.
// Ids are the SiteIds of exact mode and the buckets of the sampled profile.
//
// Implementation notes
//   Records live in one mmap'ed array (no malloc, ever) and are immutable
//   once published: record i is fully written before count_ is raised past
//   it, so readers need no lock (get() is safe while the world is stopped).
//   The hash index (open addressing, id 0 = empty) is only touched under
//   lock_. When the table is full, intern() returns 0 (unknown site).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "prof/spin_lock.h"
#include "syncscope/prof/stack_trace.h"

namespace syncscope::prof::internal {

struct StackRecord {
  std::uint64_t hash;
  std::uint32_t depth;
  // Task label (task_labels.h) of the sampled allocations booked under this
  // id; 0 = none. Part of the key: the same stack under two tasks gets two
  // ids. Sits in what was padding, so the record's layout (read from cores
  // by syncscope-core) keeps its size and pcs offset.
  std::uint32_t task_label;
  std::uintptr_t pcs[kMaxStackDepth];  // innermost first
};
static_assert(offsetof(StackRecord, pcs) == 16, "core readers expect pcs at offset 16");

class StackTable {
 public:
  static constexpr std::uint32_t kCapacity = 1u << 17;  // distinct stacks

  static StackTable& instance() noexcept;

  // The id (>= 1) of this stack under `task_label` (0: no task), adding it
  // if new; 0 when full or out of memory. Never allocates (mmap only). Takes
  // lock_ briefly.
  std::uint32_t intern(const std::uintptr_t* pcs, int depth, std::uint32_t task_label = 0) noexcept;

  // The record of an id returned by intern(), or nullptr. Lock-free.
  const StackRecord* get(std::uint32_t id) const noexcept;

  // Number of ids handed out (ids are 1..size()). Lock-free.
  std::uint32_t size() const noexcept;

  // Bytes mapped for the hash index (takes lock_): grows with the number of
  // stacks, from kInitialIndexSize slots.
  std::size_t index_bytes() noexcept {
    SpinLockGuard guard(lock_);
    return sizeof(std::uint32_t) * index_size_;
  }

  // Fork handlers (pthread_atfork): hold the lock across fork.
  void lock_for_fork() noexcept ABSL_EXCLUSIVE_LOCK_FUNCTION(lock_) { lock_.lock(); }
  void unlock_after_fork() noexcept ABSL_UNLOCK_FUNCTION(lock_) { lock_.unlock(); }

  // Where a reader of a core file of a process with this build finds the
  // records inside the instance (retain's syncscope-core): byte offsets of
  // records_ and count_. Records are StackRecord, ids 1..count.
  struct CoreLayout {
    std::size_t records_offset, count_offset;
  };
  static CoreLayout core_layout() noexcept;

 private:
  constexpr StackTable() = default;
  bool ensure_mapped_locked() noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);

  // The index starts small and doubles (under lock_) to keep its load
  // <= 1/2: it is probed at random, so an index mapped at its full size
  // (kCapacity * 2 slots, 1 MiB) would make every new stack cost a resident
  // page until all of it is (issue 16, item 4).
  static constexpr std::uint32_t kInitialIndexSize = 1u << 12;  // 16 KiB
  static constexpr std::uint32_t kMaxIndexSize = kCapacity * 2;
  bool grow_index_locked() noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(lock_);

  SpinLock lock_;
  StackRecord* records_ = nullptr;  // written once under lock_, before count_ > 0
  std::uint32_t* index_ ABSL_GUARDED_BY(lock_) = nullptr;  // slot = id, 0 = empty
  std::uint32_t index_size_ ABSL_GUARDED_BY(lock_) = 0;    // a power of two once mapped
  // Ids published so far. release-stored under lock_ after the record is
  // complete; acquire-loaded by readers.
  std::atomic<std::uint32_t> count_{0};
};

}  // namespace syncscope::prof::internal
