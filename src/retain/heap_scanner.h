// The conservative scan, done while the world is stopped: a lookup index over
// the copied live blocks, the list of root ranges, and the scan that turns
// words into edges. Every buffer is an MmapBuffer: no malloc here.
#pragma once

#include <cstddef>
#include <cstdint>

#include "retain/mmap_buffer.h"
#include "syncscope/retain/object_graph.h"

namespace syncscope::retain::internal {

// Address -> block lookup over blocks sorted by address, via a bucket table
// ((addr - lo) >> shift -> first block that may contain addr) and a binary
// search inside the bucket. O(1) expected for heap-like layouts.
class BlockIndex {
 public:
  // PRECONDITION: blocks sorted by address, non-overlapping, and they stay
  // unchanged while the index is used.
  bool build(const GraphBlock* blocks, std::size_t count) noexcept;
  // kNoNode when `addr` is in no block.
  NodeId lookup(std::uintptr_t addr) const noexcept {
    if (addr - lo_ >= span_) return kNoNode;
    const std::size_t b = (addr - lo_) >> shift_;
    std::uint32_t first = bucket_[b], last = bucket_[b + 1];  // candidates [first, last]
    while (first < last) {  // last block with address <= addr
      const std::uint32_t mid = first + (last - first + 1) / 2;
      if (blocks_[mid].address <= addr) first = mid; else last = mid - 1;
    }
    const GraphBlock& g = blocks_[first];
    const std::uint64_t extent = g.size == 0 ? 1 : g.size;
    return addr >= g.address && addr - g.address < extent ? first : kNoNode;
  }
  std::size_t memory_bytes() const noexcept { return bucket_.mapped_bytes(); }
  // First byte of block n. PRECONDITION: n < the count given to build().
  std::uintptr_t block_address(NodeId n) const noexcept { return blocks_[n].address; }

  // Cheap first filter: could `addr` be inside any block at all?
  bool in_span(std::uintptr_t addr) const noexcept { return addr - lo_ < span_; }
  // Memory-level parallelism for batched lookups (the scan is bound by the
  // cache misses on bucket_ and blocks_): stage 1 prefetches the bucket,
  // stage 2 the first candidate block. PRECONDITION: in_span(addr).
  void prefetch_bucket(std::uintptr_t addr) const noexcept {
    __builtin_prefetch(&bucket_[(addr - lo_) >> shift_]);
  }
  void prefetch_block(std::uintptr_t addr) const noexcept {
    __builtin_prefetch(&blocks_[bucket_[(addr - lo_) >> shift_]]);
  }

 private:
  const GraphBlock* blocks_ = nullptr;
  std::size_t count_ = 0;
  std::uintptr_t lo_ = 0;   // first block's address
  std::uintptr_t span_ = 0; // last block's end - lo_ (0 when empty)
  unsigned shift_ = 12;
  // bucket_[b] = index of the last block starting at or before bucket b's
  // first address (0 if none); [bucket count + 1] entries.
  MmapBuffer<std::uint32_t> bucket_;
};

struct RawRoot {
  RootKind kind = RootKind::kOther;
  std::uintptr_t begin = 0;
  std::uint64_t size = 0;
  std::int32_t thread = -1;   // index into the stop's slots; -2 = the scanning thread
  const char* module = nullptr;  // kGlobal: the module path (dl_iterate_phdr)
  std::uintptr_t module_base = 0;  // kGlobal: the module's load bias
};

// Edges found by the scan, in CSR form (rows = roots, then blocks).
struct ScanOutput {
  MmapBuffer<std::uint64_t> root_begin;   // [roots + 1]
  MmapBuffer<Edge> root_edges;
  MmapBuffer<std::uint64_t> block_begin;  // [blocks + 1]
  MmapBuffer<Edge> block_edges;
  std::uint64_t bytes_scanned = 0;
  bool truncated = false;  // an edge buffer could not grow: some edges dropped
};

// Scans every root range and every block. PRECONDITION: the memory of every
// root and block is mapped and readable and stays so during the call.
void scan_all(const RawRoot* roots, std::size_t root_count, const GraphBlock* blocks,
              std::size_t block_count, const BlockIndex& index, ScanOutput& out) noexcept;

}  // namespace syncscope::retain::internal
