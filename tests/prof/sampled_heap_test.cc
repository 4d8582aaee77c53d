// The sampled heap's block table (issue 16, item 4): it starts small and
// doubles with the number of sampled live blocks, keeping every block
// findable across each growth. A private instance, so the process-wide
// profiler is not involved.
#include "prof/sampled_heap.h"
#include "prof/stack_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace syncscope::prof::internal {
namespace {

constexpr std::uintptr_t kBase = 0x7f0000000000;

// glibc's chunk header word: the chunk size with PREV_INUSE (1),
// IS_MMAPPED (2) and NON_MAIN_ARENA (4) in its low bits.
constexpr std::size_t head_of(std::size_t chunk, std::size_t flags) { return chunk | flags; }

// The tag test on the free path (issue 16, item 3): every chunk a padded
// sampled request can get passes it, and glibc's two smallest chunks (32
// and 48 bytes, the commonest frees) do not, whatever their flag bits, so
// their frees never reach the bitmap. The oracle for "can get" is
// tagged_request's own contract: a chunk of (request + 8) rounded up to 16,
// plus the 16 or 32 bytes glibc may leave unsplit.
TEST(SampledHeapTest, TagTest_PassesEverySampledChunkAndNoSmallestChunk) {
  for (std::size_t flags : {0u, 1u, 4u, 5u}) {
    EXPECT_FALSE(SampledHeap::tagged(head_of(32, flags))) << flags;
    EXPECT_FALSE(SampledHeap::tagged(head_of(48, flags))) << flags;
    EXPECT_FALSE(SampledHeap::tagged(head_of(64, flags))) << flags;
    EXPECT_FALSE(SampledHeap::tagged(head_of(496, flags))) << flags;
    EXPECT_TRUE(SampledHeap::tagged(head_of(32, flags | 2))) << flags;  // mmapped: always
    for (std::size_t size = 1; size <= 20000; size += 7) {
      const std::size_t chunk = (SampledHeap::tagged_request(size) + 8 + 15) & ~std::size_t{15};
      for (std::size_t extra : {0u, 16u, 32u}) {
        ASSERT_TRUE(SampledHeap::tagged(head_of(chunk + extra, flags))) << size << " " << extra << " " << flags;
      }
    }
  }
  // Unsampled chunk sizes of 512 bytes and more pass about 1 in 8.
  std::size_t passed = 0, total = 0;
  for (std::size_t chunk = 512; chunk < 512 * 64; chunk += 16, ++total) passed += SampledHeap::tagged(head_of(chunk, 1));
  EXPECT_EQ(passed * 8, total);
}

TEST(SampledHeapTest, TableStartsSmallAndGrowsWithLiveSamples) {
  static SampledHeap heap;  // never destroyed, like the process-wide one
  ASSERT_TRUE(heap.record_alloc(kBase, 64, 1, 1, 1.0));
  // A few samples keep a table of two pages, not the 32 MiB maximum.
  EXPECT_LE(heap.table_bytes(), std::size_t{8} << 10);

  constexpr std::size_t kBlocks = 20000;  // needs three doublings
  for (std::size_t i = 1; i < kBlocks; ++i) {
    ASSERT_TRUE(heap.record_alloc(kBase + i * SampledHeap::kSampledChunkQuantum, 64, 1 + i % 7, 1 + i % 7, 1.0)) << i;
  }
  EXPECT_EQ(heap.live_count(), kBlocks);
  EXPECT_GE(heap.table_bytes() / 32 * 3, kBlocks * 4);  // load <= 3/4
  EXPECT_LE(heap.table_bytes(), std::size_t{2} << 20);

  std::vector<LiveBlock> blocks(kBlocks + 1);
  ASSERT_EQ(heap.copy_live_blocks(blocks.data(), blocks.size()), kBlocks);
  for (std::size_t i = 0; i < kBlocks; ++i) {
    ASSERT_TRUE(heap.in_filter(kBase + i * SampledHeap::kSampledChunkQuantum)) << i;
  }
  // Every block is found again after the moves: freeing all empties the table.
  for (std::size_t i = 0; i < kBlocks; ++i) heap.record_free(kBase + i * SampledHeap::kSampledChunkQuantum);
  EXPECT_EQ(heap.live_count(), 0u);
  for (std::size_t i = 0; i < kBlocks; ++i) {
    ASSERT_FALSE(heap.in_filter(kBase + i * SampledHeap::kSampledChunkQuantum)) << i;
  }
}

// The free filter's bit for a hash stays set while any live block has that
// hash and is cleared with the last one (issue 16, item 4: the table itself
// answers that, no per-bit counts). 60,000 blocks (about a third of them
// share their bit with another; the table grows past 2^16 slots, where one
// bit spans several home slots) are freed in a shuffled order; the oracle is the set of addresses
// still live: every one of them must pass the filter at every check, and
// none may after the last free.
TEST(SampledHeapTest, FilterBit_KeptWhileAnotherLiveBlockSharesIt) {
  static SampledHeap heap;  // never destroyed, like the process-wide one
  constexpr std::size_t kBlocks = 60000;
  std::vector<std::uintptr_t> addrs;
  for (std::size_t i = 0; i < kBlocks; ++i) addrs.push_back(kBase + i * 16 * 37);
  for (std::uintptr_t a : addrs) ASSERT_TRUE(heap.record_alloc(a, 64, 1, 1, 1.0));
  EXPECT_GE(heap.table_bytes(), std::size_t{1} << 17 << 5);  // more than 2^16 slots
  std::mt19937 rng(16);
  std::shuffle(addrs.begin(), addrs.end(), rng);
  for (std::size_t freed = 0; freed < kBlocks; ++freed) {
    heap.record_free(addrs[freed]);
    if (freed % 2000 != 0 && freed > 100) continue;
    for (std::size_t j = freed + 1; j < kBlocks; ++j) ASSERT_TRUE(heap.in_filter(addrs[j])) << freed << " " << j;
  }
  EXPECT_EQ(heap.live_count(), 0u);
  for (std::uintptr_t a : addrs) ASSERT_FALSE(heap.in_filter(a)) << std::hex << a;
}

// The stack table's hash index (issue 16, item 4) starts at 16 KiB and
// doubles with the number of stacks; every stack keeps its id across the
// growths. The process-wide table: nothing else interns here (the profiler
// is not started in this test).
TEST(StackTableTest, IndexStartsSmallAndGrowsWithStacks_IdsStable) {
  StackTable& table = StackTable::instance();
  const std::uint32_t before = table.size();
  EXPECT_LE(table.index_bytes(), std::size_t{16} << 10);
  constexpr std::uint32_t kStacks = 20000;  // needs three doublings
  std::vector<std::uint32_t> ids;
  for (std::uint32_t i = 0; i < kStacks; ++i) {
    const std::uintptr_t pcs[3] = {0x400000u + i, 0x500000u + i % 97, 0x600000u};
    ids.push_back(table.intern(pcs, 3));
    ASSERT_EQ(ids.back(), before + i + 1) << i;
  }
  EXPECT_GE(table.index_bytes(), std::size_t{kStacks} * 2 * sizeof(std::uint32_t));
  EXPECT_LE(table.index_bytes(), std::size_t{256} << 10);  // not the 1 MiB maximum
  for (std::uint32_t i = 0; i < kStacks; ++i) {
    const std::uintptr_t pcs[3] = {0x400000u + i, 0x500000u + i % 97, 0x600000u};
    ASSERT_EQ(table.intern(pcs, 3), ids[i]) << i;  // found again, same id
    const StackRecord* r = table.get(ids[i]);
    ASSERT_NE(r, nullptr);
    ASSERT_EQ(r->depth, 3u);
    ASSERT_EQ(r->pcs[0], pcs[0]);
  }
}

}  // namespace
}  // namespace syncscope::prof::internal
