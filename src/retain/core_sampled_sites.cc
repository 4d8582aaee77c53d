// Sampled allocation sites from a core (see core_sampled_sites.h).
#include "retain/core_sampled_sites.h"

#include <algorithm>
#include <cstring>

#include "prof/sampled_heap.h"
#include "prof/stack_table.h"

namespace syncscope::retain::internal {
namespace {

// Mangled names of the profiler's two tables (prof/sampled_heap.cc, and
// the function-local static of StackTable::instance()).
constexpr const char* kSampledHeapSymbol = "_ZN9syncscope4prof8internal14g_sampled_heapE";
constexpr const char* kStackTableSymbol = "_ZZN9syncscope4prof8internal10StackTable8instanceEvE5table";

template <class T>
bool read(const MemoryImage& image, std::uintptr_t addr, T& out) {
  const std::byte* p = image.view(addr, sizeof out);
  if (p == nullptr) return false;
  std::memcpy(&out, p, sizeof out);
  return true;
}

}  // namespace

CoreSampledSites read_sampled_sites(const MemoryImage& image, const CoreSymbols& symbols) {
  CoreSampledSites out;
  const std::uintptr_t heap = symbols.symbol_address(kSampledHeapSymbol);
  const std::uintptr_t table = symbols.symbol_address(kStackTableSymbol);
  if (heap == 0 || table == 0) return out;  // the program did not link the profiler
  const auto hl = prof::internal::SampledHeap::core_layout();
  const auto tl = prof::internal::StackTable::core_layout();
  std::uintptr_t slots = 0, records = 0;
  std::uint64_t capacity = 0;
  std::uint32_t count = 0;
  if (!read(image, heap + hl.blocks_offset, slots) || !read(image, heap + hl.capacity_offset, capacity) ||
      !read(image, table + tl.records_offset, records) || !read(image, table + tl.count_offset, count)) {
    out.note = "the heap profiler's tables are not readable in the core";
    return out;
  }
  if (slots == 0 || capacity == 0) return out;  // nothing was ever sampled
  if ((capacity & (capacity - 1)) != 0 || capacity > hl.max_capacity || count > prof::internal::StackTable::kCapacity ||
      image.view(slots, capacity * hl.slot_bytes) == nullptr) {
    out.note = "the heap profiler's sampled-block table does not check out (another syncscope build?)";
    return out;
  }
  const std::byte* base = image.view(slots, capacity * hl.slot_bytes);
  for (std::uint64_t i = 0; i < capacity; ++i) {
    const std::byte* slot = base + i * hl.slot_bytes;
    CoreSampledBlock b;
    std::memcpy(&b.address, slot + hl.slot_addr, sizeof b.address);
    if (b.address == 0) continue;
    std::memcpy(&b.size, slot + hl.slot_size, sizeof b.size);
    std::memcpy(&b.stack, slot + hl.slot_stack, sizeof b.stack);
    if (b.stack == 0 || b.stack > count) continue;
    if (out.stacks.find(b.stack) == out.stacks.end()) {
      const std::uintptr_t rec = records + std::uintptr_t{b.stack} * sizeof(prof::internal::StackRecord);
      prof::internal::StackRecord r;
      if (!read(image, rec, r) || r.depth > static_cast<std::uint32_t>(prof::kMaxStackDepth)) {
        out.note = "a stack record of the heap profiler is unreadable";
        continue;
      }
      out.stacks.emplace(b.stack, std::vector<std::uintptr_t>(r.pcs, r.pcs + r.depth));
    }
    out.blocks.push_back(b);
  }
  std::sort(out.blocks.begin(), out.blocks.end(),
            [](const CoreSampledBlock& a, const CoreSampledBlock& b) { return a.address < b.address; });
  return out;
}

}  // namespace syncscope::retain::internal
