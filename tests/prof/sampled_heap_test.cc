// The sampled heap's block table (issue 16, item 4): it starts small and
// doubles with the number of sampled live blocks, keeping every block
// findable across each growth. A private instance, so the process-wide
// profiler is not involved.
#include "prof/sampled_heap.h"
#include "prof/hooks/glibc_real.h"
#include "prof/sampled_prefix.h"
#include "prof/stack_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <thread>
#include <vector>

namespace syncscope::prof::internal {
namespace {

constexpr std::uintptr_t kBase = 0x7f0000000000;
// Between the blocks of the table tests: a block of a few hundred bytes.
constexpr std::uintptr_t kStride = 512;

// The tag test on the free path (issue 16, item 3): no header word glibc
// writes is a sampled block's tag, and every tag the interposers write is.
// Here "glibc writes" is the form glibc's source gives a header word (a
// chunk size, a multiple of 16 of at least 32, with PREV_INUSE, IS_MMAPPED
// and NON_MAIN_ARENA in bits 0-2); the next test asks glibc itself.
TEST(SampledHeapTest, TagBit_SetInEveryTagAndInNoGlibcHeaderForm) {
  for (std::size_t chunk = 32; chunk <= (std::size_t{1} << 20); chunk += 16) {
    for (std::size_t flags = 0; flags < 8; ++flags) {
      ASSERT_FALSE(is_sampled_tag(chunk | flags)) << chunk << " " << flags;
      ASSERT_FALSE(valid_sampled_tag(chunk | flags)) << chunk << " " << flags;
    }
  }
  for (std::size_t offset = kSampledPrefixBytes; offset <= (std::size_t{1} << 16); offset *= 2) {
    EXPECT_TRUE(is_sampled_tag(sampled_tag(offset))) << offset;
    EXPECT_TRUE(valid_sampled_tag(sampled_tag(offset))) << offset;
    EXPECT_EQ(sampled_offset(sampled_tag(offset)), offset);
  }
  // Words a heap walker must not take for a tag.
  EXPECT_FALSE(valid_sampled_tag(sampled_tag(48)));  // not a power of two
  EXPECT_FALSE(valid_sampled_tag(sampled_tag(0)));
  EXPECT_FALSE(valid_sampled_tag(sampled_tag(16) | 1));
}

// Not under the sanitizers: their runtimes replace glibc's allocator, its
// __libc_* entry points included, and the hooks are not linked there.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
// The same against glibc itself: the words before blocks from its malloc,
// calloc and memalign, in heap and mmapped chunks, in the main arena and a
// thread's.
TEST(SampledHeapTest, TagBit_ClearBeforeEveryBlockGlibcHandsOut) {
  std::vector<void*> blocks;
  const auto allocate = [&blocks] {
    std::vector<void*> mine;
    for (std::size_t n = 0; n < 5000; n += 7) mine.push_back(__libc_malloc(n));
    for (std::size_t n = 1; n < 5000; n += 97) mine.push_back(__libc_calloc(1, n));
    for (std::size_t a : {32u, 64u, 4096u}) mine.push_back(__libc_memalign(a, 100 + a));
    mine.push_back(__libc_malloc(std::size_t{1} << 20));            // mmapped
    mine.push_back(__libc_memalign(65536, std::size_t{300} << 10));  // mmapped, aligned
    return mine;
  };
  blocks = allocate();
  std::thread([&] {
    const std::vector<void*> theirs = allocate();  // a thread arena's chunks (NON_MAIN_ARENA)
    blocks.insert(blocks.end(), theirs.begin(), theirs.end());
  }).join();
  std::size_t thread_arena = 0;
  for (void* p : blocks) {
    ASSERT_NE(p, nullptr);
    const std::size_t head = static_cast<const std::size_t*>(p)[-1];
    EXPECT_FALSE(is_sampled_tag(head)) << std::hex << head;
    thread_arena += (head & 4) != 0;
  }
  EXPECT_GT(thread_arena, 0u);
  for (void* p : blocks) __libc_free(p);
}
#endif  // no sanitizer

TEST(SampledHeapTest, TableStartsSmallAndGrowsWithLiveSamples) {
  static SampledHeap heap;  // never destroyed, like the process-wide one
  ASSERT_TRUE(heap.record_alloc(kBase, 64, 1, 1, 1.0));
  // A few samples keep a table of two pages, not the 32 MiB maximum.
  EXPECT_LE(heap.table_bytes(), std::size_t{8} << 10);

  constexpr std::size_t kBlocks = 20000;  // needs three doublings
  for (std::size_t i = 1; i < kBlocks; ++i) {
    ASSERT_TRUE(heap.record_alloc(kBase + i * kStride, 64, 1 + i % 7, 1 + i % 7, 1.0)) << i;
  }
  EXPECT_EQ(heap.live_count(), kBlocks);
  EXPECT_GE(heap.table_bytes() / 32 * 3, kBlocks * 4);  // load <= 3/4
  EXPECT_LE(heap.table_bytes(), std::size_t{2} << 20);

  std::vector<LiveBlock> blocks(kBlocks + 1);
  ASSERT_EQ(heap.copy_live_blocks(blocks.data(), blocks.size()), kBlocks);
  for (std::size_t i = 0; i < kBlocks; ++i) {
    ASSERT_TRUE(heap.in_filter(kBase + i * kStride)) << i;
  }
  // Every block is found again after the moves: freeing all empties the table.
  for (std::size_t i = 0; i < kBlocks; ++i) heap.record_free(kBase + i * kStride);
  EXPECT_EQ(heap.live_count(), 0u);
  for (std::size_t i = 0; i < kBlocks; ++i) {
    ASSERT_FALSE(heap.in_filter(kBase + i * kStride)) << i;
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
