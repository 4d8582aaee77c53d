// The stopped-world building blocks on synthetic memory: the bucket index
// against brute force, the conservative scan's edges and offsets, and root
// clipping against mappings, live blocks and excluded ranges.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

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
