// The stopped-world building blocks on synthetic memory: the bucket index
// against brute force, the conservative scan's edges and offsets, and root
// clipping against mappings, live blocks and excluded ranges.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "retain/block_labels.h"
#include "retain/heap_scanner.h"
#include "retain/memory_image.h"
#include "retain/proc_maps.h"

namespace syncscope::retain::internal {
namespace {

// The block containing a, by a linear search (the reference for BlockIndex).
NodeId brute_lookup(const MmapBuffer<GraphBlock>& blocks, std::uintptr_t a) {
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const std::uint64_t extent = blocks[i].size == 0 ? 1 : blocks[i].size;
    if (a >= blocks[i].address && a - blocks[i].address < extent) return static_cast<NodeId>(i);
  }
  return kNoNode;
}

TEST(BlockIndex, LookupMatchesBruteForce_RandomLayouts) {
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937_64 rng(seed);
    MmapBuffer<GraphBlock> blocks;
    std::uintptr_t at = 0x10000 + (rng() % 4096);
    const std::size_t n = 1 + rng() % 3000;
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t size = rng() % 8 == 0 ? 0 : 1 + rng() % (rng() % 16 == 0 ? 100000 : 200);
      blocks.push_back(GraphBlock{at, size, 0});
      at += (size == 0 ? 1 : size) + (rng() % 4 == 0 ? rng() % 50000 : rng() % 32);
    }
    BlockIndex index;
    ASSERT_TRUE(index.build(blocks.data(), blocks.size()));
    for (int q = 0; q < 3000; ++q) {
      std::uintptr_t a;
      if (q % 3 == 0) {
        const GraphBlock& b = blocks[rng() % blocks.size()];
        a = b.address + rng() % (b.size + 2);  // inside, at the end, just past
      } else {
        a = 0x10000 + rng() % (at - 0x10000 + 100);
      }
      ASSERT_EQ(index.lookup(a), brute_lookup(blocks, a)) << "seed " << seed << " addr " << a;
    }
    EXPECT_EQ(index.lookup(0), kNoNode);
    EXPECT_EQ(index.lookup(~std::uintptr_t{0}), kNoNode);
  }
}

// Blocks in clusters far apart (main heap, thread arenas, mmap'ed chunks):
// one run per cluster, lookups still exact, including in the gaps.
TEST(BlockIndex, LookupMatchesBruteForce_ClustersFarApart) {
  for (std::uint32_t seed = 1; seed <= 10; ++seed) {
    std::mt19937_64 rng(seed);
    MmapBuffer<GraphBlock> blocks;
    const std::uintptr_t cluster_base[] = {0x560000000000, 0x560000000000 + (64u << 20),
                                           0x7f0000000000, 0x7f0004000000, 0x7ff000000000};
    std::size_t clusters = 0;
    for (std::uintptr_t base : cluster_base) {
      std::uintptr_t at = base + rng() % 4096;
      const std::size_t n = 1 + rng() % 500;
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint64_t size = rng() % 8 == 0 ? 0 : 1 + rng() % 300;
        blocks.push_back(GraphBlock{at, size, 0});
        at += (size == 0 ? 1 : size) + rng() % 64;
      }
      ++clusters;
    }
    BlockIndex index;
    ASSERT_TRUE(index.build(blocks.data(), blocks.size()));
    EXPECT_EQ(index.run_count(), clusters);
    // Buckets stay about one per block: no table spans the gaps.
    EXPECT_LT(index.memory_bytes(), std::size_t{1} << 20);
    for (int q = 0; q < 4000; ++q) {
      std::uintptr_t a;
      if (q % 2 == 0) {
        const GraphBlock& b = blocks[rng() % blocks.size()];
        a = b.address + rng() % (b.size + 2);
      } else {
        a = cluster_base[rng() % clusters] + rng() % (1u << 20) - (1u << 10);  // around and between
      }
      ASSERT_EQ(index.lookup(a), brute_lookup(blocks, a)) << "seed " << seed << " addr " << a;
    }
  }
}

// This process' memory read in place, every address readable (the test's
// arrays are).
class InPlaceImage final : public MemoryImage {
 public:
  std::span<const Mapping> regions() const noexcept override { return {}; }
  const std::byte* view(std::uintptr_t addr, std::size_t) const noexcept override {
    return reinterpret_cast<const std::byte*>(addr);
  }
  bool resident(std::uintptr_t, std::size_t, unsigned char*) const noexcept override { return false; }
};

TEST(ScanAll, FindsEveryPointerWordWithItsOffset) {
  // Memory: 8 "blocks" of 64 bytes inside one array, plus a root array.
  alignas(64) static std::uintptr_t heap[8 * 8];
  alignas(64) static std::uintptr_t root_words[16];
  const auto base = reinterpret_cast<std::uintptr_t>(heap);
  MmapBuffer<GraphBlock> blocks;
  for (std::size_t i = 0; i < 8; ++i) blocks.push_back(GraphBlock{base + i * 64, 64, 0});
  for (auto& w : heap) w = 12345;  // non-pointers
  heap[0 * 8 + 2] = base + 1 * 64;        // block 0 +16 -> block 1
  heap[1 * 8 + 7] = base + 5 * 64 + 40;   // block 1 +56 -> block 5 (interior)
  heap[5 * 8 + 0] = base + 5 * 64 + 8;    // self pointer: not an edge
  heap[6 * 8 + 3] = base + 8 * 64;        // one past the last block: not an edge
  for (auto& w : root_words) w = 0;
  root_words[5] = base + 2 * 64 + 63;     // root +40 -> block 2 (last byte)
  BlockIndex index;
  ASSERT_TRUE(index.build(blocks.data(), blocks.size()));
  RawRoot roots[1];
  roots[0].begin = reinterpret_cast<std::uintptr_t>(root_words);
  roots[0].size = sizeof root_words;
  ScanOutput out;
  scan_all(InPlaceImage(), roots, 1, blocks.data(), blocks.size(), index, out);
  ASSERT_FALSE(out.truncated);
  ASSERT_EQ(out.root_edges.size(), 1u);
  EXPECT_EQ(out.root_edges[0].target, 2u);
  EXPECT_EQ(out.root_edges[0].offset, 40u);
  ASSERT_EQ(out.block_edges.size(), 2u);
  EXPECT_EQ(out.block_begin[1] - out.block_begin[0], 1u);
  EXPECT_EQ(out.block_edges[0].target, 1u);
  EXPECT_EQ(out.block_edges[0].offset, 16u);
  EXPECT_EQ(out.block_edges[1].target, 5u);
  EXPECT_EQ(out.block_edges[1].offset, 56u);
  EXPECT_EQ(out.block_begin[8], 2u);
  EXPECT_EQ(out.bytes_scanned, sizeof heap + sizeof root_words);
}

// The scan's edges (rows, targets, offsets, interior flags) against a
// word-by-word oracle that looks every word up by std::upper_bound over the
// sorted blocks, on random heaps: pointer-free blocks, blocks with more
// pointer words than one lookup batch holds, pointers to block starts,
// interiors, last bytes, one past the end, gaps, itself, and to blocks in a
// second cluster far away. The scanner resolves its lookups in batches that
// span holders, so row boundaries are where a bookkeeping slip would show.
struct OracleEdge {
  NodeId target;
  std::uint32_t offset;
  bool interior;
  bool operator==(const OracleEdge&) const = default;
};

NodeId oracle_lookup(const MmapBuffer<GraphBlock>& blocks, std::uintptr_t a) {
  const GraphBlock* it = std::upper_bound(blocks.begin(), blocks.end(), a,
                                          [](std::uintptr_t x, const GraphBlock& b) { return x < b.address; });
  if (it == blocks.begin()) return kNoNode;
  --it;
  const std::uint64_t extent = it->size == 0 ? 1 : it->size;
  return a - it->address < extent ? static_cast<NodeId>(it - blocks.begin()) : kNoNode;
}

std::vector<OracleEdge> oracle_row(const MmapBuffer<GraphBlock>& blocks, std::uintptr_t begin, std::uint64_t size,
                                   NodeId self) {
  std::vector<OracleEdge> row;
  for (std::uintptr_t p = (begin + 7) & ~std::uintptr_t{7}; p + 8 <= begin + size; p += 8) {
    std::uintptr_t w;
    std::memcpy(&w, reinterpret_cast<const void*>(p), 8);
    const NodeId t = oracle_lookup(blocks, w);
    if (t == kNoNode || t == self) continue;
    row.push_back(OracleEdge{t, static_cast<std::uint32_t>(p - begin), w != blocks[t].address});
  }
  return row;
}

std::vector<OracleEdge> scanned_row(const MmapBuffer<std::uint64_t>& begin, const MmapBuffer<Edge>& edges,
                                    std::size_t r) {
  std::vector<OracleEdge> row;
  for (std::uint64_t e = begin[r]; e < begin[r + 1]; ++e)
    row.push_back(OracleEdge{edges[e].target, edges[e].offset, edges[e].interior != 0});
  return row;
}

TEST(ScanAll, EdgesMatchWordByWordOracle_RandomHeaps) {
  for (std::uint32_t seed = 1; seed <= 12; ++seed) {
    std::mt19937_64 rng(seed);
    // Two clusters far apart inside one mapping: two runs of the index.
    constexpr std::size_t kCluster = std::size_t{1} << 20;
    constexpr std::size_t kGap = std::size_t{32} << 20;  // > BlockIndex::kRunGap
    MmapBuffer<std::byte> memory;
    ASSERT_TRUE(memory.reserve(2 * kCluster + kGap));
    const auto base = reinterpret_cast<std::uintptr_t>(memory.data());
    MmapBuffer<GraphBlock> blocks;
    for (std::uintptr_t cluster : {base, base + kCluster + kGap}) {
      std::uintptr_t at = cluster + 16 * (rng() % 8);
      const std::size_t n = 200 + rng() % 800;
      for (std::size_t i = 0; i < n && at + 4096 < cluster + kCluster; ++i) {
        const std::uint64_t size = rng() % 16 == 0 ? 0 : 8 + rng() % (rng() % 8 == 0 ? 2048 : 200);
        blocks.push_back(GraphBlock{at, size, 0});
        at += (size + 16 + 15) / 16 * 16 + (rng() % 4 == 0 ? 16 * (rng() % 64) : 0);
      }
    }
    // Words: small integers, and pointers where a block's density says so.
    auto random_word = [&](NodeId self) -> std::uintptr_t {
      const GraphBlock& t = blocks[rng() % blocks.size()];
      switch (rng() % 8) {
        case 0: return t.address + (t.size == 0 ? 0 : rng() % t.size);       // inside
        case 1: return t.address + t.size;                                    // one past (or a 0-byte block)
        case 2: return t.address + (t.size == 0 ? 0 : t.size - 1);            // last byte
        case 3: return self == kNoNode ? t.address : blocks[self].address + 8;  // itself
        case 4: return base + kCluster + rng() % kGap;                        // between the clusters
        default: return t.address;                                            // a start
      }
    };
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      auto* words = reinterpret_cast<std::uintptr_t*>(blocks[b].address);
      const unsigned density = rng() % 4 == 0 ? 0 : rng() % 4 == 0 ? 8 : 1 + rng() % 3;  // of 8
      for (std::size_t w = 0; w < blocks[b].size / 8; ++w)
        words[w] = rng() % 8 < density ? random_word(static_cast<NodeId>(b)) : rng() % 100000;
    }
    std::vector<std::uintptr_t> root_words(200 + rng() % 200);
    for (auto& w : root_words) w = rng() % 2 == 0 ? random_word(kNoNode) : rng() % 100000;
    RawRoot roots[3];
    roots[0].begin = reinterpret_cast<std::uintptr_t>(root_words.data());
    roots[0].size = 40 * 8;
    roots[1].begin = roots[0].begin + roots[0].size + 4;  // unaligned start: first word skipped
    roots[1].size = 3;                                    // no whole word
    roots[2].begin = roots[0].begin + 48 * 8;
    roots[2].size = (root_words.size() - 48) * 8;

    BlockIndex index;
    ASSERT_TRUE(index.build(blocks.data(), blocks.size()));
    ScanOutput out;
    scan_all(InPlaceImage(), roots, 3, blocks.data(), blocks.size(), index, out);
    ASSERT_FALSE(out.truncated);
    ASSERT_EQ(out.root_begin.size(), 4u);
    ASSERT_EQ(out.block_begin.size(), blocks.size() + 1);
    std::size_t edges = 0, multi_batch_rows = 0;
    for (std::size_t r = 0; r < 3; ++r) {
      const auto expect = oracle_row(blocks, roots[r].begin, roots[r].size, kNoNode);
      ASSERT_EQ(scanned_row(out.root_begin, out.root_edges, r), expect) << "seed " << seed << " root " << r;
      edges += expect.size();
    }
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      const auto expect = oracle_row(blocks, blocks[b].address, blocks[b].size, static_cast<NodeId>(b));
      ASSERT_EQ(scanned_row(out.block_begin, out.block_edges, b), expect) << "seed " << seed << " block " << b;
      edges += expect.size();
      multi_batch_rows += expect.size() > 16;
    }
    EXPECT_EQ(out.root_edges.size() + out.block_edges.size(), edges);
    // The heap exercised what it is meant to: many edges, rows longer than a batch.
    EXPECT_GT(edges, 1000u) << "seed " << seed;
    EXPECT_GT(multi_batch_rows, 0u) << "seed " << seed;
  }
}

// Label hints (block_labels.h) against their definition, computed with a
// linear search over the module ranges: the first word when it points into
// any module, else the first of the next three that points into executable
// code. Words sit inside, at the edges of, and just outside module ranges,
// in the same 2 MiB granule as a module but in no range, in the gap between
// the executable and the libraries (where a brk heap lives), and are small
// integers; one layout has a module larger than the granule filter holds.
std::uintptr_t oracle_hint(const std::vector<ModuleRange>& ranges, const std::uintptr_t* words, std::size_t n) {
  auto find = [&](std::uintptr_t w) -> const ModuleRange* {
    for (const ModuleRange& r : ranges)
      if (w >= r.begin && w < r.end) return &r;
    return nullptr;
  };
  if (n > 0 && find(words[0]) != nullptr) return words[0];
  for (std::size_t i = 1; i < n && i < 4; ++i)
    if (const ModuleRange* r = find(words[i]); r != nullptr && r->executable) return words[i];
  return 0;
}

TEST(LabelHints, MatchDefinition_RandomModulesAndWords) {
  for (std::uint32_t seed = 1; seed <= 12; ++seed) {
    std::mt19937_64 rng(seed);
    std::vector<ModuleRange> ranges;
    const bool huge_module = seed % 4 == 0;  // more granules than the filter holds
    for (std::uintptr_t at : {std::uintptr_t{0x555555554000}, std::uintptr_t{0x7f0000000000}}) {
      const int modules = 1 + static_cast<int>(rng() % 30);
      for (int m = 0; m < modules; ++m) {
        const std::uint64_t size = huge_module && m == 0 ? std::uint64_t{4} << 30 : 4096 * (1 + rng() % 600);
        ranges.push_back(ModuleRange{at, at + size, rng() % 2 == 0});
        at += size + (rng() % 3 == 0 ? 4096 * (rng() % 2000) : 0);
      }
    }
    auto random_word = [&]() -> std::uintptr_t {
      const ModuleRange& r = ranges[rng() % ranges.size()];
      switch (rng() % 8) {
        case 0: return r.begin + rng() % (r.end - r.begin);
        case 1: return r.end;                                     // one past
        case 2: return r.begin - 1;
        case 3: return (r.end | ((std::uintptr_t{1} << 21) - 1)) - rng() % 64;  // same granule, maybe no module
        case 4: return 0x555555554000 + (std::uintptr_t{1} << 30) + rng() % (std::uintptr_t{1} << 30);  // heap gap
        case 5: return rng() % 100000;
        default: return r.begin;
      }
    };
    std::vector<std::uintptr_t> heap(4000);
    for (auto& w : heap) w = rng() % 3 == 0 ? rng() % 100000 : random_word();
    MmapBuffer<GraphBlock> blocks;
    const auto base = reinterpret_cast<std::uintptr_t>(heap.data());
    for (std::size_t at = 0; at + 8 < heap.size();) {
      const std::size_t words = rng() % 7;  // 0..6 words: shorter and longer than the 4 looked at
      blocks.push_back(GraphBlock{base + at * 8, words * 8 + (rng() % 2 == 0 ? rng() % 8 : 0), 0});
      at += words + 1;
    }
    MmapBuffer<std::uintptr_t> hints;
    capture_label_hints(InPlaceImage(), blocks.data(), blocks.size(), ranges.data(), ranges.size(), hints);
    ASSERT_EQ(hints.size(), blocks.size());
    std::size_t nonzero = 0;
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      const auto* words = reinterpret_cast<const std::uintptr_t*>(blocks[b].address);
      ASSERT_EQ(hints[b], oracle_hint(ranges, words, blocks[b].size / 8)) << "seed " << seed << " block " << b;
      nonzero += hints[b] != 0;
    }
    EXPECT_GT(nonzero, blocks.size() / 10) << "seed " << seed;    // both answers are common
    EXPECT_LT(nonzero, blocks.size() * 9 / 10) << "seed " << seed;
  }
}

TEST(RootPieces, ClippedToReadableMappingsMinusBlocksAndExclusions) {
  MmapBuffer<Mapping> maps;
  maps.push_back(Mapping{0x1000, 0x3000, true, true});
  maps.push_back(Mapping{0x3000, 0x4000, false, false});  // unreadable (guard)
  maps.push_back(Mapping{0x5000, 0x6000, true, false});
  MmapBuffer<GraphBlock> blocks;
  blocks.push_back(GraphBlock{0x1800, 0x100, 0});
  blocks.push_back(GraphBlock{0x5400, 0x10, 0});
  const Range excluded[] = {{0x2000, 0x2200}};
  RawRoot r;
  r.kind = RootKind::kGlobal;
  r.begin = 0x0800;  // starts before any mapping
  r.size = 0x6800 - 0x0800;
  MmapBuffer<RawRoot> out;
  add_root_pieces(r, maps, blocks.data(), blocks.size(), excluded, 1, out);
  const std::vector<std::pair<std::uintptr_t, std::uintptr_t>> expect = {
      {0x1000, 0x1800}, {0x1900, 0x2000}, {0x2200, 0x3000}, {0x5000, 0x5400}, {0x5410, 0x6000}};
  ASSERT_EQ(out.size(), expect.size());
  for (std::size_t i = 0; i < expect.size(); ++i) {
    EXPECT_EQ(out[i].begin, expect[i].first) << i;
    EXPECT_EQ(out[i].begin + out[i].size, expect[i].second) << i;
    EXPECT_EQ(out[i].kind, RootKind::kGlobal);
  }
  EXPECT_EQ(find_mapping(maps, 0x3500)->readable, false);
  EXPECT_EQ(find_mapping(maps, 0x4500), nullptr);
}

TEST(ProcMaps, ReadsOwnMappings) {
  MmapBuffer<char> text;
  MmapBuffer<Mapping> maps;
  ASSERT_TRUE(read_proc_maps(text, maps));
  ASSERT_GT(maps.size(), 3u);
  int local = 0;
  const Mapping* stack = find_mapping(maps, reinterpret_cast<std::uintptr_t>(&local));
  ASSERT_NE(stack, nullptr);
  EXPECT_TRUE(stack->readable && stack->writable);
  for (std::size_t i = 1; i < maps.size(); ++i) EXPECT_LE(maps[i - 1].end, maps[i].start);
}

}  // namespace
}  // namespace syncscope::retain::internal
