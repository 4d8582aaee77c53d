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
  std::uintptr_t pcs[kMaxStackDepth];  // innermost first
};

class StackTable {
 public:
  static constexpr std::uint32_t kCapacity = 1u << 17;  // distinct stacks

  static StackTable& instance() noexcept;

  // The id (>= 1) of this stack, adding it if new; 0 when full or out of
  // memory. Never allocates (mmap only). Takes lock_ briefly.
  std::uint32_t intern(const std::uintptr_t* pcs, int depth) noexcept;

  // The record of an id returned by intern(), or nullptr. Lock-free.
  const StackRecord* get(std::uint32_t id) const noexcept;

  // Number of ids handed out (ids are 1..size()). Lock-free.
  std::uint32_t size() const noexcept;

  // Fork handlers (pthread_atfork): hold the lock across fork.
  void lock_for_fork() noexcept { lock_.lock(); }
  void unlock_after_fork() noexcept { lock_.unlock(); }

  // Where a reader of a core file of a process with this build finds the
  // records inside the instance (retain's syncscope-core): byte offsets of
  // records_ and count_. Records are StackRecord, ids 1..count.
  struct CoreLayout {
    std::size_t records_offset, count_offset;
  };
  static CoreLayout core_layout() noexcept;

 private:
  constexpr StackTable() = default;
  bool ensure_mapped_locked() noexcept;

  static constexpr std::uint32_t kIndexSize = kCapacity * 2;  // load <= 1/2
  SpinLock lock_;
  StackRecord* records_ = nullptr;  // written once under lock_, before count_ > 0
  std::uint32_t* index_ = nullptr;  // guarded by lock_; slot = id, 0 = empty
  // Ids published so far. release-stored under lock_ after the record is
  // complete; acquire-loaded by readers.
  std::atomic<std::uint32_t> count_{0};
};

}  // namespace syncscope::prof::internal
