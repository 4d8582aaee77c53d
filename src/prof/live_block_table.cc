// LiveBlockTable (public, include/syncscope/prof/live_blocks.h) on top of
// LiveBlockStore. The table object itself is stateless; the store holds it.
#include "syncscope/prof/live_blocks.h"

#include <sched.h>
#include <time.h>

#include <algorithm>

#include "prof/heap_recorder.h"
#include "prof/live_block_store.h"
#include "prof/page_alloc.h"
#include "prof/stack_table.h"
#include "prof/thread_state.h"

namespace syncscope::prof {
namespace internal {
namespace {

std::size_t hash_addr(std::uintptr_t addr, unsigned shift) noexcept {
  return static_cast<std::size_t>(((addr >> 4) * 0x9e3779b97f4a7c15ull) >> shift);
}

}  // namespace

constinit LiveBlockStore g_live_block_store;

LiveBlockStore::Shard& LiveBlockStore::shard_of(LiveBlockStore& s, std::uintptr_t addr) noexcept {
  return s.shards_[hash_addr(addr * 0xff51afd7ed558ccdull, 58) & (kShards - 1)];
}

bool LiveBlockStore::grow_locked(Shard& sh) noexcept {
  const std::size_t cap = sh.capacity == 0 ? 1024 : sh.capacity * 2;
  auto* slots = static_cast<LiveBlock*>(map_pages(sizeof(LiveBlock) * cap));
  if (slots == nullptr) return false;
  for (std::size_t i = 0; i < sh.capacity; ++i) {
    const LiveBlock& b = sh.slots[i];
    if (b.address == 0) continue;
    std::size_t j = hash_addr(b.address, 20) & (cap - 1);
    while (slots[j].address != 0) j = (j + 1) & (cap - 1);
    slots[j] = b;
  }
  unmap_pages(sh.slots, sizeof(LiveBlock) * sh.capacity);
  sh.slots = slots;
  sh.capacity = cap;
  return true;
}

void LiveBlockStore::insert(std::uintptr_t addr, std::size_t size, SiteId site) noexcept {
  Shard& sh = shard_of(*this, addr);
  SpinLockGuard guard(sh.lock);
  if ((sh.count + 1) * 2 > sh.capacity && !grow_locked(sh)) {
    // No memory to grow: keep filling the current table up to 15/16 (longer
    // probes, nothing lost); past that the block cannot be recorded.
    if ((sh.count + 1) * 16 > sh.capacity * 15) {
      // relaxed: statistics; publishes nothing.
      dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
  const std::size_t mask = sh.capacity - 1;
  std::size_t i = hash_addr(addr, 20) & mask;
  while (sh.slots[i].address != 0 && sh.slots[i].address != addr) i = (i + 1) & mask;
  if (sh.slots[i].address == 0) ++sh.count;
  sh.slots[i] = LiveBlock{addr, size, site};
}

void LiveBlockStore::erase(std::uintptr_t addr) noexcept {
  Shard& sh = shard_of(*this, addr);
  SpinLockGuard guard(sh.lock);
  if (sh.capacity == 0) return;
  const std::size_t mask = sh.capacity - 1;
  std::size_t i = hash_addr(addr, 20) & mask;
  while (sh.slots[i].address != 0 && sh.slots[i].address != addr) i = (i + 1) & mask;
  if (sh.slots[i].address == 0) return;
  --sh.count;
  // Backward-shift deletion (no tombstones).
  std::size_t hole = i;
  for (std::size_t j = (i + 1) & mask; sh.slots[j].address != 0; j = (j + 1) & mask) {
    const std::size_t home = hash_addr(sh.slots[j].address, 20) & mask;
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (!stays) {
      sh.slots[hole] = sh.slots[j];
      hole = j;
    }
  }
  sh.slots[hole] = LiveBlock{};
}

bool LiveBlockStore::build_sorted() noexcept {
  std::size_t total = 0;
  for (Shard& sh : shards_) total += sh.count;
  const std::size_t need = sizeof(LiveBlock) * (total + 1);
  if (need > sorted_bytes_) {
    unmap_pages(sorted_, sorted_bytes_);
    const std::size_t bytes = need + need / 2;
    sorted_ = static_cast<LiveBlock*>(map_pages(bytes));
    sorted_bytes_ = sorted_ != nullptr ? bytes : 0;
  }
  sorted_count_ = 0;
  if (sorted_ == nullptr) return false;
  for (Shard& sh : shards_) {
    for (std::size_t i = 0; i < sh.capacity; ++i) {
      if (sh.slots[i].address != 0) sorted_[sorted_count_++] = sh.slots[i];
    }
  }
  // std::sort is in place (introsort): no allocation while the world is stopped.
  std::sort(sorted_, sorted_ + sorted_count_,
            [](const LiveBlock& a, const LiveBlock& b) { return a.address < b.address; });
  return true;
}

void LiveBlockStore::clear_sorted() noexcept { sorted_count_ = 0; }

void LiveBlockStore::lock_all_for_fork() noexcept {
  for (Shard& sh : shards_) sh.lock.lock();
}

void LiveBlockStore::unlock_all_after_fork() noexcept {
  for (Shard& sh : shards_) sh.lock.unlock();
}

}  // namespace internal

using internal::LiveBlockStore;

LiveBlockTable& LiveBlockTable::instance() {
  static constinit LiveBlockTable table;
  return table;
}

namespace {

std::int64_t monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Waits until no hook is inside the busy section, at most until `deadline_ns`.
// A busy section is a few shard-lock operations (or one table growth) and
// never waits for another thread, so only a descheduled or stopped thread
// makes this wait long.
bool wait_for_hooks_to_drain(std::int64_t deadline_ns) noexcept {
  internal::CounterSlot* slots = internal::counter_slots();
  for (std::size_t i = 0; i < internal::kCounterSlots; ++i) {
    // seq_cst: pairs with the hooks' seq_cst busy increment + frozen load.
    for (unsigned spins = 0; slots[i].busy.load(std::memory_order_seq_cst) != 0; ++spins) {
      if (spins % 64 == 63 && monotonic_ns() > deadline_ns) return false;
      sched_yield();
    }
  }
  return true;
}

}  // namespace

bool LiveBlockTable::freeze(std::chrono::milliseconds timeout) noexcept {
  LiveBlockStore& store = LiveBlockStore::instance();
  // A fork() while frozen must reset the child's copy of `frozen` (issue 13, item 2).
  internal::install_fork_handlers();
  const std::int64_t deadline = monotonic_ns() + static_cast<std::int64_t>(timeout.count()) * 1'000'000;
  internal::tls_state.freezer = true;
  // seq_cst: the freeze side of the Dekker handshake (see live_block_store.h).
  store.frozen.store(true, std::memory_order_seq_cst);
  // Either failure leaves an empty snapshot and the table thawed.
  if (!wait_for_hooks_to_drain(deadline) || !store.build_sorted()) {
    store.clear_sorted();
    thaw();
    return false;
  }
  return true;
}

void LiveBlockTable::thaw() noexcept {
  // release: our reads of the table happen before hooks mutate it again
  // (pairs with the hooks' frozen load).
  LiveBlockStore::instance().frozen.store(false, std::memory_order_release);
  internal::tls_state.freezer = false;
}

std::uint64_t LiveBlockTable::dropped_blocks() const noexcept {
  // relaxed: statistics.
  return LiveBlockStore::instance().dropped.load(std::memory_order_relaxed);
}

std::size_t LiveBlockTable::block_count() const noexcept {
  return LiveBlockStore::instance().sorted_count();
}

std::span<const LiveBlock> LiveBlockTable::sorted_blocks() const noexcept {
  const LiveBlockStore& store = LiveBlockStore::instance();
  if (store.sorted() == nullptr) return {};
  return {store.sorted(), store.sorted_count()};
}

const LiveBlock* LiveBlockTable::find_containing(std::uintptr_t addr) const noexcept {
  std::span<const LiveBlock> blocks = sorted_blocks();
  // The last block starting at or below addr is the only candidate.
  auto it = std::upper_bound(blocks.begin(), blocks.end(), addr,
                             [](std::uintptr_t a, const LiveBlock& b) { return a < b.address; });
  if (it == blocks.begin()) return nullptr;
  const LiveBlock& b = *(it - 1);
  const std::size_t extent = b.size == 0 ? 1 : b.size;
  return addr - b.address < extent ? &b : nullptr;
}

AllocationSite LiveBlockTable::site(SiteId id) const {
  AllocationSite site;
  site.id = id;
  if (const internal::StackRecord* r = internal::StackTable::instance().get(id)) {
    site.pcs.assign(r->pcs, r->pcs + r->depth);
  }
  return site;
}

}  // namespace syncscope::prof
