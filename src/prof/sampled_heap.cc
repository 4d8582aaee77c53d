#include "prof/sampled_heap.h"

#include "prof/page_alloc.h"
#include "prof/stack_table.h"

namespace syncscope::prof::internal {

constinit SampledHeap g_sampled_heap;

SampledHeap::CoreLayout SampledHeap::core_layout() noexcept {
  const auto at = [](const void* field) {
    return static_cast<std::size_t>(static_cast<const char*>(field) - reinterpret_cast<const char*>(&g_sampled_heap));
  };
  return CoreLayout{at(&g_sampled_heap.blocks_), at(&g_sampled_heap.capacity_), kMaxCapacity, sizeof(Block),
                    offsetof(Block, addr), offsetof(Block, size), offsetof(Block, stack)};
}

bool SampledHeap::ensure_mapped_locked() noexcept {
  // relaxed: we hold lock_, the only writer.
  if (mapped_.load(std::memory_order_relaxed)) return true;
  const std::size_t est_bytes = sizeof(SiteEstimate) * (StackTable::kCapacity + 1);
  auto* blocks = static_cast<Block*>(map_pages(sizeof(Block) * kInitialCapacity));
  auto* estimates = static_cast<SiteEstimate*>(map_pages(est_bytes));
  if (blocks == nullptr || estimates == nullptr) {
    unmap_pages(blocks, sizeof(Block) * kInitialCapacity);
    unmap_pages(estimates, est_bytes);
    return false;
  }
  blocks_ = blocks;
  capacity_ = kInitialCapacity;
  estimates_ = estimates;
  // release: readers that see true may use the two regions.
  mapped_.store(true, std::memory_order_release);
  return true;
}

// Doubles the table (new mapping, every block re-inserted, old one unmapped).
// False at kMaxCapacity or when the mapping fails: the caller drops the sample.
bool SampledHeap::grow_locked() noexcept {
  if (capacity_ >= kMaxCapacity) return false;
  const std::size_t cap = capacity_ * 2;
  auto* blocks = static_cast<Block*>(map_pages(sizeof(Block) * cap));
  if (blocks == nullptr) return false;
  for (std::size_t j = 0; j < capacity_; ++j) {
    if (blocks_[j].addr == 0) continue;
    std::size_t i = slot_of(blocks_[j].addr, cap);
    while (blocks[i].addr != 0) i = (i + 1) & (cap - 1);
    blocks[i] = blocks_[j];
  }
  unmap_pages(blocks_, sizeof(Block) * capacity_);
  blocks_ = blocks;
  capacity_ = cap;
  return true;
}

bool SampledHeap::record_alloc(std::uintptr_t addr, std::size_t size, std::uint32_t stack,
                               std::uint32_t bucket, double weight) noexcept {
  SpinLockGuard guard(lock_);
  if (!ensure_mapped_locked()) return false;
  if ((live_ + 1) * 4 > capacity_ * 3 && !grow_locked()) return false;
  std::size_t i = slot_of(addr, capacity_);
  while (blocks_[i].addr != 0 && blocks_[i].addr != addr) i = (i + 1) & (capacity_ - 1);
  if (blocks_[i].addr == addr) {
    // A stale entry (block freed behind our back, e.g. by the freezer thread): book it freed.
    SiteEstimate& old = estimates_[blocks_[i].bucket];
    old.free_objects += blocks_[i].weight;
    old.free_bytes += blocks_[i].weight * static_cast<double>(blocks_[i].size);
  } else {
    ++live_;
    const std::size_t h = filter_of(addr);
    // relaxed: see the invariant at filter_bits_.
    filter_bits_[h / 64].fetch_or(std::uint64_t{1} << (h % 64), std::memory_order_relaxed);
  }
  blocks_[i] = Block{addr, size, weight, stack, bucket};
  SiteEstimate& e = estimates_[bucket];
  e.alloc_objects += weight;
  e.alloc_bytes += weight * static_cast<double>(size);
  return true;
}

void SampledHeap::erase_slot_locked(std::size_t i) noexcept {
  // Backward-shift deletion keeps probe chains intact without tombstones.
  std::size_t hole = i;
  for (std::size_t j = (i + 1) & (capacity_ - 1); blocks_[j].addr != 0;
       j = (j + 1) & (capacity_ - 1)) {
    const std::size_t home = slot_of(blocks_[j].addr, capacity_);
    // Move j into the hole when its home is not in (hole, j] cyclically.
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (!stays) {
      blocks_[hole] = blocks_[j];
      hole = j;
    }
  }
  blocks_[hole] = Block{};
}

void SampledHeap::record_free(std::uintptr_t addr) noexcept {
  SpinLockGuard guard(lock_);
  record_free_locked(addr);
}

void SampledHeap::try_record_free(std::uintptr_t addr) noexcept {
  if (!lock_.try_lock()) return;
  record_free_locked(addr);
  lock_.unlock();
}

void SampledHeap::record_free_locked(std::uintptr_t addr) noexcept {
  if (!mapped_.load(std::memory_order_relaxed)) return;  // relaxed: we hold lock_
  std::size_t i = slot_of(addr, capacity_);
  while (blocks_[i].addr != 0 && blocks_[i].addr != addr) i = (i + 1) & (capacity_ - 1);
  if (blocks_[i].addr != addr) return;
  SiteEstimate& e = estimates_[blocks_[i].bucket];
  e.free_objects += blocks_[i].weight;
  e.free_bytes += blocks_[i].weight * static_cast<double>(blocks_[i].size);
  --live_;
  erase_slot_locked(i);
  const std::size_t h = filter_of(addr);
  if (!filter_bit_used_locked(h)) {
    // relaxed: see the invariant at filter_bits_.
    filter_bits_[h / 64].fetch_and(~(std::uint64_t{1} << (h % 64)), std::memory_order_relaxed);
  }
}

// The blocks with bit h have their home slots in [first, last] (one slot
// when the table has at most 2^kFilterBits slots); linear probing keeps each
// block in the run of occupied slots that starts at its home, so the walk
// from `first` past `last` to the next empty slot sees all of them.
bool SampledHeap::filter_bit_used_locked(std::size_t h) const noexcept {
  const int table_bits = __builtin_ctzll(capacity_);
  std::size_t first = h, last = h;
  if (table_bits <= static_cast<int>(kFilterBits)) {
    first = last = h >> (kFilterBits - table_bits);
  } else {
    first = h << (table_bits - kFilterBits);
    last = first + (std::size_t{1} << (table_bits - kFilterBits)) - 1;
  }
  for (std::size_t k = 0; k < capacity_; ++k) {
    const std::size_t i = (first + k) & (capacity_ - 1);
    if (blocks_[i].addr == 0) {
      if (k >= last - first) return false;
      continue;
    }
    if (filter_of(blocks_[i].addr) == h) return true;
  }
  return false;
}

std::size_t SampledHeap::copy_estimates(SiteEstimate* out, std::uint32_t max_stack) noexcept {
  SpinLockGuard guard(lock_);
  if (!mapped_.load(std::memory_order_relaxed)) return 0;  // relaxed: we hold lock_
  for (std::uint32_t id = 0; id <= max_stack; ++id) out[id] = estimates_[id];
  return live_;
}

std::size_t SampledHeap::copy_live_blocks(LiveBlock* out, std::size_t cap) noexcept {
  SpinLockGuard guard(lock_);
  if (!mapped_.load(std::memory_order_relaxed)) return 0;  // relaxed: we hold lock_
  std::size_t n = 0;
  for (std::size_t i = 0; i < capacity_ && n < cap && n < live_; ++i) {
    const Block& b = blocks_[i];
    if (b.addr != 0) out[n++] = LiveBlock{b.addr, static_cast<std::size_t>(b.size), b.stack};
  }
  return n;
}

}  // namespace syncscope::prof::internal
