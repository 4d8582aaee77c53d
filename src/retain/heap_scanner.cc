// Conservative scanning: every aligned pointer-sized word that points into a
// live block (interior pointers included) becomes an edge.
#include "retain/heap_scanner.h"

#include <cstring>

#include "retain/memory_image.h"

namespace syncscope::retain::internal {

bool BlockIndex::add_run(std::size_t first, std::size_t end) noexcept {
  Run r;
  r.lo = blocks_[first].address;
  const GraphBlock& last = blocks_[end - 1];
  r.span = last.address + (last.size == 0 ? 1 : last.size) - r.lo;
  // About one bucket per block of the run (at least 16 bytes each).
  const std::size_t count = end - first;
  r.shift = 4;
  while ((r.span >> r.shift) > count) ++r.shift;
  const std::size_t buckets = (r.span >> r.shift) + 1;
  r.bucket_offset = bucket_.size();
  const std::size_t need = bucket_.size() + buckets + 1;
  if (!bucket_.reserve(need > 2 * bucket_.size() ? need : 2 * bucket_.size()) || !runs_.push_back(r)) {
    return false;
  }
  std::size_t i = first;
  for (std::size_t b = 0; b <= buckets; ++b) {
    const std::uintptr_t start = r.lo + (static_cast<std::uintptr_t>(b) << r.shift);
    while (i + 1 < end && blocks_[i + 1].address <= start) ++i;
    bucket_.push_back(static_cast<std::uint32_t>(i));
  }
  return true;
}

bool BlockIndex::build(const GraphBlock* blocks, std::size_t count) noexcept {
  blocks_ = blocks;
  runs_.clear();
  bucket_.clear();
  if (count == 0) {
    lo_ = 0;
    span_ = 0;
    return bucket_.reserve(2) && runs_.reserve(1);
  }
  lo_ = blocks[0].address;
  const GraphBlock& last = blocks[count - 1];
  span_ = last.address + (last.size == 0 ? 1 : last.size) - lo_;
  std::size_t run_start = 0;
  std::uintptr_t run_end = blocks[0].address + (blocks[0].size == 0 ? 1 : blocks[0].size);
  for (std::size_t i = 1; i < count; ++i) {
    if (blocks[i].address - run_end > kRunGap) {
      if (!add_run(run_start, i)) return false;
      run_start = i;
    }
    run_end = blocks[i].address + (blocks[i].size == 0 ? 1 : blocks[i].size);
  }
  return add_run(run_start, count);
}

namespace {

std::uint32_t saturate(std::uint64_t v) {
  return v >= kOffsetSaturated ? kOffsetSaturated : static_cast<std::uint32_t>(v);
}

// Scans [begin, begin + size) (word-aligned inside), whose bytes are at
// `bytes` (the byte at `begin`), appending edges whose offset is relative to
// `holder` (the range's own start). Words that pass the span filter are
// looked up in batches so their cache misses overlap.
// Reads every word of thread stacks and blocks on purpose, as a conservative
// scanner must: ASan's red zones included (not instrumented, or an ASan build
// serving /debug/retain reports a stack-buffer-underflow here).
__attribute__((no_sanitize("address"))) std::uint64_t scan_range(const std::byte* bytes, std::uintptr_t begin, std::uint64_t size, std::uintptr_t holder,
                         NodeId self, const BlockIndex& index, MmapBuffer<Edge>& edges,
                         bool& truncated) noexcept {
  constexpr std::uintptr_t kWord = sizeof(std::uintptr_t);
  constexpr int kBatch = 16;
  std::uintptr_t word[kBatch];
  std::uintptr_t at[kBatch];
  int pending = 0;
  std::size_t slot[kBatch];
  auto flush = [&] {
    int n = 0;  // words that fall in a run, compacted in place
    for (int i = 0; i < pending; ++i) {
      const std::size_t s = index.slot(word[i]);
      if (s == BlockIndex::kNoSlot) continue;
      index.prefetch_bucket(s);
      word[n] = word[i];
      at[n] = at[i];
      slot[n++] = s;
    }
    for (int i = 0; i < n; ++i) index.prefetch_block(slot[i]);
    for (int i = 0; i < n; ++i) {
      const NodeId t = index.lookup_slot(word[i], slot[i]);
      if (t == kNoNode || t == self) continue;
      const bool interior = word[i] != index.block_address(t);
      if (!edges.push_back(Edge{t, saturate(at[i] - holder), interior})) truncated = true;
    }
    pending = 0;
  };
  std::uintptr_t p = (begin + kWord - 1) & ~(kWord - 1);
  const std::uintptr_t end = begin + size;
  for (; p + kWord <= end; p += kWord) {
    std::uintptr_t w;
    std::memcpy(&w, bytes + (p - begin), kWord);
    if (!index.in_span(w)) continue;
    word[pending] = w;
    at[pending] = p;
    if (++pending == kBatch) flush();
  }
  flush();
  return end > begin ? end - begin : 0;
}

}  // namespace

void scan_all(const MemoryImage& image, const RawRoot* roots, std::size_t root_count, const GraphBlock* blocks,
              std::size_t block_count, const BlockIndex& index, ScanOutput& out) noexcept {
  out.truncated = !out.root_begin.reserve(root_count + 1) || !out.block_begin.reserve(block_count + 1);
  if (out.truncated) return;
  ImageCursor cursor(image);
  out.root_begin.push_back(0);
  for (std::size_t r = 0; r < root_count; ++r) {
    const RawRoot& root = roots[r];
    const std::byte* bytes = root.local != nullptr ? root.local : cursor.view(root.begin, root.size);
    if (bytes != nullptr) {
      out.bytes_scanned +=
          scan_range(bytes, root.begin, root.size, root.begin, kNoNode, index, out.root_edges, out.truncated);
    }
    out.root_begin.push_back(out.root_edges.size());
  }
  out.block_begin.push_back(0);
  for (std::size_t b = 0; b < block_count; ++b) {
    if (const std::byte* bytes = cursor.view(blocks[b].address, blocks[b].size); bytes != nullptr) {
      out.bytes_scanned += scan_range(bytes, blocks[b].address, blocks[b].size, blocks[b].address,
                                      static_cast<NodeId>(b), index, out.block_edges, out.truncated);
    }
    out.block_begin.push_back(out.block_edges.size());
  }
}

}  // namespace syncscope::retain::internal
