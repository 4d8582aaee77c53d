#include "prof/stack_table.h"

#include <cstring>

#include "prof/page_alloc.h"

namespace syncscope::prof::internal {
namespace {

std::uint64_t hash_stack(const std::uintptr_t* pcs, int depth) noexcept {
  std::uint64_t h = 0x9e3779b97f4a7c15ull ^ static_cast<std::uint64_t>(depth);
  for (int i = 0; i < depth; ++i) {
    h ^= pcs[i];
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  return h | 1;  // never 0
}


}  // namespace

StackTable& StackTable::instance() noexcept {
  // Constant-initialized and never destroyed: usable before main and after
  // static destructors.
  static constinit StackTable table;
  return table;
}

bool StackTable::ensure_mapped_locked() noexcept {
  if (records_ != nullptr) return true;
  auto* index = static_cast<std::uint32_t*>(map_pages(sizeof(std::uint32_t) * kIndexSize));
  auto* records = static_cast<StackRecord*>(map_pages(sizeof(StackRecord) * (kCapacity + 1)));
  if (index == nullptr || records == nullptr) {
    unmap_pages(index, sizeof(std::uint32_t) * kIndexSize);
    unmap_pages(records, sizeof(StackRecord) * (kCapacity + 1));
    return false;
  }
  index_ = index;
  records_ = records;
  return true;
}

std::uint32_t StackTable::intern(const std::uintptr_t* pcs, int depth) noexcept {
  if (depth <= 0) return 0;
  if (depth > kMaxStackDepth) depth = kMaxStackDepth;
  const std::uint64_t h = hash_stack(pcs, depth);
  SpinLockGuard guard(lock_);
  if (!ensure_mapped_locked()) return 0;
  const std::size_t bytes = sizeof(std::uintptr_t) * static_cast<std::size_t>(depth);
  for (std::uint32_t i = static_cast<std::uint32_t>(h) & (kIndexSize - 1);;
       i = (i + 1) & (kIndexSize - 1)) {
    const std::uint32_t id = index_[i];
    if (id == 0) {
      // relaxed: count_ is only written under lock_, which we hold.
      const std::uint32_t n = count_.load(std::memory_order_relaxed);
      if (n >= kCapacity) return 0;
      StackRecord& r = records_[n + 1];
      r.hash = h;
      r.depth = static_cast<std::uint32_t>(depth);
      std::memcpy(r.pcs, pcs, bytes);
      index_[i] = n + 1;
      // release: publishes record n+1 to lock-free readers (pairs with the
      // acquire in get()/size()).
      count_.store(n + 1, std::memory_order_release);
      return n + 1;
    }
    const StackRecord& r = records_[id];
    if (r.hash == h && r.depth == static_cast<std::uint32_t>(depth) &&
        std::memcmp(r.pcs, pcs, bytes) == 0) {
      return id;
    }
  }
}

StackTable::CoreLayout StackTable::core_layout() noexcept {
  const StackTable& t = instance();
  const auto at = [&t](const void* field) {
    return static_cast<std::size_t>(static_cast<const char*>(field) - reinterpret_cast<const char*>(&t));
  };
  return CoreLayout{at(&t.records_), at(&t.count_)};
}

const StackRecord* StackTable::get(std::uint32_t id) const noexcept {
  // acquire: record `id` is complete once count_ >= id (pairs with intern()).
  if (id == 0 || id > count_.load(std::memory_order_acquire)) return nullptr;
  return &records_[id];
}

std::uint32_t StackTable::size() const noexcept {
  return count_.load(std::memory_order_acquire);  // acquire: as in get()
}

}  // namespace syncscope::prof::internal
