// The conservative scan, done while the world is stopped: a lookup index over
// the copied live blocks, the list of root ranges, and the scan that turns
// words into edges. Every buffer is an MmapBuffer: no malloc here.
#pragma once

#include <cstddef>
#include <cstdint>

#include "retain/mmap_buffer.h"
#include "syncscope/retain/object_graph.h"

namespace syncscope::retain::internal {

class MemoryImage;  // memory_image.h

// Address -> block lookup over blocks sorted by address. The blocks are cut
// into runs wherever two neighbours are more than kRunGap apart (the main
// heap, each malloc arena, stray mmap'ed chunks live gigabytes apart); each
// run has its own bucket table ((addr - run.lo) >> run.shift -> first block
// that may contain addr), sized to about one bucket per block of the run.
// A lookup binary-searches the few runs (an array that stays in L1), then
// its bucket, then the handful of blocks the bucket covers: O(log runs)
// cache-resident steps plus about two cache misses.
//
// One table for the whole address range (what this replaced) made every
// bucket cover gigabytes as soon as blocks lived both in the main heap and
// in a thread arena, so each lookup became a binary search over all blocks:
// 0.16 GB/s on the 10^6 x 256 B benchmark on the 2-core CI machine.
class BlockIndex {
 public:
  static constexpr std::uintptr_t kRunGap = std::uintptr_t{16} << 20;  // 16 MiB
  static constexpr std::size_t kNoSlot = ~std::size_t{0};

  // PRECONDITION: blocks sorted by address, non-overlapping, and they stay
  // unchanged while the index is used.
  bool build(const GraphBlock* blocks, std::size_t count) noexcept;

  // The bucket slot for addr (an index into the bucket table), or kNoSlot
  // when addr is in no run. Touches only the run table.
  std::size_t slot(std::uintptr_t addr) const noexcept {
    if (addr - lo_ >= span_) return kNoSlot;
    std::size_t first = 0, last = runs_.size() - 1;  // last run with lo <= addr
    while (first < last) {
      const std::size_t mid = first + (last - first + 1) / 2;
      if (runs_[mid].lo <= addr) first = mid; else last = mid - 1;
    }
    const Run& r = runs_[first];
    if (addr - r.lo >= r.span) return kNoSlot;
    return r.bucket_offset + ((addr - r.lo) >> r.shift);
  }
  // kNoNode when `addr` is in no block. PRECONDITION: s == slot(addr), not kNoSlot.
  NodeId lookup_slot(std::uintptr_t addr, std::size_t s) const noexcept {
    std::uint32_t first = bucket_[s], last = bucket_[s + 1];  // candidates [first, last]
    while (first < last) {  // last block with address <= addr
      const std::uint32_t mid = first + (last - first + 1) / 2;
      if (blocks_[mid].address <= addr) first = mid; else last = mid - 1;
    }
    const GraphBlock& g = blocks_[first];
    const std::uint64_t extent = g.size == 0 ? 1 : g.size;
    return addr >= g.address && addr - g.address < extent ? first : kNoNode;
  }
  NodeId lookup(std::uintptr_t addr) const noexcept {
    const std::size_t s = slot(addr);
    return s == kNoSlot ? kNoNode : lookup_slot(addr, s);
  }
  std::size_t memory_bytes() const noexcept { return bucket_.mapped_bytes() + runs_.mapped_bytes(); }
  std::size_t run_count() const noexcept { return runs_.size(); }
  // First byte of block n. PRECONDITION: n < the count given to build().
  std::uintptr_t block_address(NodeId n) const noexcept { return blocks_[n].address; }

  // Cheap first filter: could `addr` be inside any block at all?
  bool in_span(std::uintptr_t addr) const noexcept { return addr - lo_ < span_; }
  // Memory-level parallelism for batched lookups (the scan is bound by the
  // cache misses on bucket_ and blocks_): stage 1 prefetches the bucket,
  // stage 2 the first candidate block. PRECONDITION: s is a slot, not kNoSlot.
  void prefetch_bucket(std::size_t s) const noexcept { __builtin_prefetch(&bucket_[s]); }
  void prefetch_block(std::size_t s) const noexcept { __builtin_prefetch(&blocks_[bucket_[s]]); }

 private:
  struct Run {
    std::uintptr_t lo = 0;      // the run's first block's address
    std::uintptr_t span = 0;    // its last block's end - lo
    unsigned shift = 4;         // bucket width: 1 << shift bytes
    std::size_t bucket_offset = 0;  // its first slot in bucket_
  };

  bool add_run(std::size_t first, std::size_t end) noexcept;

  const GraphBlock* blocks_ = nullptr;
  std::uintptr_t lo_ = 0;   // first block's address
  std::uintptr_t span_ = 0; // last block's end - lo_ (0 when empty)
  MmapBuffer<Run> runs_;    // by address; at least one once built
  // For each run, (span >> shift) + 2 slots: slot b holds the index of the
  // last block of the run starting at or before bucket b's first address
  // (the run's first block for b = 0), so [slot b, slot b + 1] brackets the
  // candidates for any address in bucket b.
  MmapBuffer<std::uint32_t> bucket_;
};

struct RawRoot {
  RootKind kind = RootKind::kOther;
  std::uintptr_t begin = 0;
  std::uint64_t size = 0;
  std::int32_t thread = -1;   // index into the stop's slots; -2 = the scanning thread
  const char* module = nullptr;  // kGlobal: the module path (dl_iterate_phdr)
  std::uintptr_t module_base = 0;  // kGlobal: the module's load bias
  // When set: the root's `size` bytes are here, in the scanner's own memory,
  // not in the image at `begin` (a core's saved registers live in a note,
  // outside the address space). Offsets stay relative to `begin`.
  const std::byte* local = nullptr;
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

// Scans every root range and every block, reading their bytes through
// `image` (a root with `local` set is read there instead). A block or root
// the image cannot show is skipped (no edges, not counted in
// bytes_scanned). PRECONDITION: the image stays valid during the call.
void scan_all(const MemoryImage& image, const RawRoot* roots, std::size_t root_count, const GraphBlock* blocks,
              std::size_t block_count, const BlockIndex& index, ScanOutput& out) noexcept;

}  // namespace syncscope::retain::internal
