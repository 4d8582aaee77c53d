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

// Looks candidate words up in batches of kBatch so their cache misses
// overlap: stage 1 finds each word's run (L1-resident) and prefetches its
// bucket, stage 2 prefetches the candidate blocks, stage 3 resolves. A batch
// spans holders (a block has only a few pointer words: per-block batches
// would leave two or three misses in flight), so each word carries its CSR
// row and edges are appended in row order; row starts in `row_begin` are
// written lazily, when a word of a later row is resolved or at finish().
class BatchedLookup {
 public:
  BatchedLookup(const BlockIndex& index, MmapBuffer<Edge>& edges, MmapBuffer<std::uint64_t>& row_begin,
                bool& truncated) noexcept
      : index_(index), edges_(edges), row_begin_(row_begin), truncated_(truncated) {}

  // A word at byte `offset` of row `row` (rows in non-decreasing order);
  // `self`: the holder's own node (a pointer to itself is no edge).
  void add(std::uintptr_t word, std::uint64_t offset, std::uint64_t row, NodeId self) noexcept {
    pending_[count_] = Pending{word, row, 0, saturate(offset), self};
    if (++count_ == kBatch) flush();
  }
  // Resolves what is pending and closes every row before `rows`:
  // row_begin then has rows + 1 entries.
  void finish(std::uint64_t rows) noexcept {
    flush();
    close_rows_before(rows);
  }

 private:
  static constexpr int kBatch = 16;
  struct Pending {
    std::uintptr_t word;
    std::uint64_t row;
    std::size_t slot;
    std::uint32_t offset;
    NodeId self;
  };

  void close_rows_before(std::uint64_t row) noexcept {
    // row_begin_[r] is row r's first edge; its size is 1 + rows closed.
    while (row_begin_.size() < row + 1) {
      if (!row_begin_.push_back(edges_.size())) {
        truncated_ = true;
        return;
      }
    }
  }
  void flush() noexcept {
    int n = 0;  // words that fall in a run, compacted in place
    for (int i = 0; i < count_; ++i) {
      const std::size_t s = index_.slot(pending_[i].word);
      if (s == BlockIndex::kNoSlot) continue;
      index_.prefetch_bucket(s);
      pending_[n] = pending_[i];
      pending_[n++].slot = s;
    }
    for (int i = 0; i < n; ++i) index_.prefetch_block(pending_[i].slot);
    for (int i = 0; i < n; ++i) {
      const Pending& p = pending_[i];
      const NodeId t = index_.lookup_slot(p.word, p.slot);
      if (t == kNoNode || t == p.self) continue;
      close_rows_before(p.row);
      const bool interior = p.word != index_.block_address(t);
      if (!edges_.push_back(Edge{t, p.offset, interior})) truncated_ = true;
    }
    count_ = 0;
  }

  const BlockIndex& index_;
  MmapBuffer<Edge>& edges_;
  MmapBuffer<std::uint64_t>& row_begin_;
  bool& truncated_;
  Pending pending_[kBatch];
  int count_ = 0;  // pending_[0, count_) not yet looked up
};

// Feeds the words of [begin, begin + size) (word-aligned inside), whose bytes
// are at `bytes` (the byte at `begin`), to `lookup` as row `row`, offsets
// relative to `begin`. Only words inside the index's span are candidates.
// Reads every word of thread stacks and blocks on purpose, as a conservative
// scanner must: ASan's red zones included (not instrumented, or an ASan build
// serving /debug/retain reports a stack-buffer-underflow here).
__attribute__((no_sanitize("address"))) std::uint64_t scan_range(const std::byte* bytes, std::uintptr_t begin,
                                                                  std::uint64_t size, std::uint64_t row, NodeId self,
                                                                  const BlockIndex& index,
                                                                  BatchedLookup& lookup) noexcept {
  constexpr std::uintptr_t kWord = sizeof(std::uintptr_t);
  std::uintptr_t p = (begin + kWord - 1) & ~(kWord - 1);
  const std::uintptr_t end = begin + size;
  for (; p + kWord <= end; p += kWord) {
    std::uintptr_t w;
    std::memcpy(&w, bytes + (p - begin), kWord);
    if (index.in_span(w)) lookup.add(w, p - begin, row, self);
  }
  return end > begin ? end - begin : 0;
}

}  // namespace

void scan_all(const MemoryImage& image, const RawRoot* roots, std::size_t root_count, const GraphBlock* blocks,
              std::size_t block_count, const BlockIndex& index, ScanOutput& out) noexcept {
  out.truncated = !out.root_begin.reserve(root_count + 1) || !out.block_begin.reserve(block_count + 1);
  if (out.truncated) return;
  ImageCursor cursor(image);
  BatchedLookup root_lookup(index, out.root_edges, out.root_begin, out.truncated);
  for (std::size_t r = 0; r < root_count; ++r) {
    const RawRoot& root = roots[r];
    const std::byte* bytes = root.local != nullptr ? root.local : cursor.view(root.begin, root.size);
    if (bytes != nullptr) out.bytes_scanned += scan_range(bytes, root.begin, root.size, r, kNoNode, index, root_lookup);
  }
  root_lookup.finish(root_count);
  BatchedLookup block_lookup(index, out.block_edges, out.block_begin, out.truncated);
  for (std::size_t b = 0; b < block_count; ++b) {
    if (const std::byte* bytes = cursor.view(blocks[b].address, blocks[b].size); bytes != nullptr) {
      out.bytes_scanned +=
          scan_range(bytes, blocks[b].address, blocks[b].size, b, static_cast<NodeId>(b), index, block_lookup);
    }
  }
  block_lookup.finish(block_count);
}

}  // namespace syncscope::retain::internal
