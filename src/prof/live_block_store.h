// Storage behind LiveBlockTable (exact mode): every live block, sharded by
// address into mmap'ed open-addressing tables, plus the sorted snapshot that
// freeze() builds for the retention scanner.
//
// Implementation notes
//   Mutations come only from the allocation hooks, inside the busy/frozen
//   handshake (heap_recorder.cc): a hook raises its slot's `busy`, then
//   checks `frozen_`; freeze() sets `frozen_`, then waits for every `busy`
//   to drain. Both sides use seq_cst so at least one sees the other (Dekker):
//   after freeze() no hook is inside, and new ones wait before any lock.
//
//   shard (64, by address hash)        sorted_ (freeze() .. thaw())
//   +------+----------------------+     +-------------------------+
//   | lock | LiveBlock[capacity]  | --> | LiveBlock[count], by    |
//   +------+----------------------+     | address, mmap'ed        |
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "prof/spin_lock.h"
#include "syncscope/prof/live_blocks.h"

namespace syncscope::prof::internal {

class LiveBlockStore {
 public:
  constexpr LiveBlockStore() = default;
  static LiveBlockStore& instance() noexcept;

  // Hook side (inside the busy handshake). Never allocate (mmap only).
  void insert(std::uintptr_t addr, std::size_t size, SiteId site) noexcept;
  void erase(std::uintptr_t addr) noexcept;

  // seq_cst on both sides of the hook/freeze handshake; see file comment.
  std::atomic<bool> frozen{false};
  // Exact mode on: new allocations are recorded.
  std::atomic<bool> enabled{false};
  // Exact mode was ever on: frees must look the block up.
  std::atomic<bool> ever_enabled{false};
  // Inserts that found their shard full with no memory to grow (statistics,
  // relaxed): the table is missing that many blocks.
  std::atomic<std::uint64_t> dropped{0};

  // Freeze side. Requires every hook to be out (frozen and drained): the
  // freeze handshake, not the shard locks, excludes the writers, which the
  // analysis cannot see (hence no thread-safety analysis in it).
  // False when the snapshot's memory could not be mapped.
  bool build_sorted() noexcept ABSL_NO_THREAD_SAFETY_ANALYSIS;
  // An empty snapshot (freeze() gave up waiting for the hooks).
  void clear_sorted() noexcept;
  const LiveBlock* sorted() const noexcept { return sorted_; }
  std::size_t sorted_count() const noexcept { return sorted_count_; }

  // Every shard lock, held across fork() (a loop of locks the analysis
  // cannot name).
  void lock_all_for_fork() noexcept ABSL_NO_THREAD_SAFETY_ANALYSIS;
  void unlock_all_after_fork() noexcept ABSL_NO_THREAD_SAFETY_ANALYSIS;

 private:
  struct alignas(64) Shard {
    SpinLock lock;
    LiveBlock* slots ABSL_GUARDED_BY(lock) = nullptr;  // address 0 = empty
    std::size_t capacity ABSL_GUARDED_BY(lock) = 0;    // power of two or 0
    std::size_t count ABSL_GUARDED_BY(lock) = 0;       // load <= 1/2 (<= 15/16 when growth failed)
  };
  static constexpr std::size_t kShards = 64;

  static Shard& shard_of(LiveBlockStore& s, std::uintptr_t addr) noexcept;
  static bool grow_locked(Shard& sh) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(sh.lock);

  Shard shards_[kShards];
  // Valid between freeze() and thaw(); only the freezing thread writes them.
  LiveBlock* sorted_ = nullptr;
  std::size_t sorted_count_ = 0;
  std::size_t sorted_bytes_ = 0;  // mapped size of sorted_
};

// The one instance: constant-initialized, never destroyed.
extern LiveBlockStore g_live_block_store;
inline LiveBlockStore& LiveBlockStore::instance() noexcept { return g_live_block_store; }

}  // namespace syncscope::prof::internal
