// Exact mode: every live block is in the LiveBlockTable, no freed one is,
// lookups by interior pointer work, and freeze() holds allocating threads.
#include "syncscope/prof/live_blocks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/symbolizer.h"
#include "syncscope/prof/untracked_scope.h"

namespace syncscope::prof {
namespace {

using ::testing::HasSubstr;

class LiveBlockTableTest : public ::testing::Test {
 protected:
  void TearDown() override { HeapProfiler::set_exact_mode(false); }
};

volatile int g_sink = 0;

__attribute__((noipa)) void* exact_site_alloc(std::size_t n) {
  g_sink = 7;
  void* p = std::malloc(n);
  asm volatile("" : : "r"(p) : "memory");
  return p;
}

TEST_F(LiveBlockTableTest, FindsEveryLiveBlockAndNoFreedOne) {
  LiveBlockTable& table = LiveBlockTable::instance();
  std::vector<void*> blocks(20000);
  HeapProfiler::set_exact_mode(true);
  for (std::size_t i = 0; i < blocks.size(); ++i) blocks[i] = exact_site_alloc(16 + (i % 300));
  for (std::size_t i = 0; i < blocks.size(); i += 2) std::free(blocks[i]);
  HeapProfiler::set_exact_mode(false);

  table.freeze();
  // The site of a live block is our function.
  const LiveBlock* first = table.find_containing(reinterpret_cast<std::uintptr_t>(blocks[1]));
  ASSERT_NE(first, nullptr);
  const SiteId site = first->site;
  std::size_t ours = 0;
  table.for_each([&](const LiveBlock& b) { ours += b.site == site ? 1 : 0; });
  std::size_t live_found = 0, freed_found = 0;
  bool sorted = true;
  std::uintptr_t prev = 0;
  for (const LiveBlock& b : table.sorted_blocks()) {
    sorted = sorted && b.address > prev;
    prev = b.address;
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const auto a = reinterpret_cast<std::uintptr_t>(blocks[i]);
    const std::size_t size = 16 + (i % 300);
    const LiveBlock* b = table.find_containing(a + size - 1);  // interior pointer
    if (i % 2 == 1) {
      live_found += b != nullptr && b->address == a && b->size == size && b->site == site;
    } else {
      // A freed address may have been reused by another allocation, never ours.
      freed_found += b != nullptr && b->address == a && b->site == site;
    }
  }
  const std::size_t count = table.block_count();
  table.thaw();
  const AllocationSite s = table.site(site);

  for (std::size_t i = 1; i < blocks.size(); i += 2) std::free(blocks[i]);
  EXPECT_TRUE(sorted);
  EXPECT_EQ(live_found, blocks.size() / 2);
  EXPECT_EQ(freed_found, 0u);
  EXPECT_EQ(ours, blocks.size() / 2);
  EXPECT_GE(count, blocks.size() / 2);
  ASSERT_FALSE(s.pcs.empty());
  EXPECT_THAT(Symbolizer::instance().symbolize(s.pcs[0] - 1).back().function,
              HasSubstr("exact_site_alloc"));
}

// Blocks allocated inside an UntrackedScope never enter the table; a tracked
// block freed inside one still leaves it (no freed memory stays listed).
TEST_F(LiveBlockTableTest, UntrackedScope_HidesItsAllocationsButNotItsFrees) {
  LiveBlockTable& table = LiveBlockTable::instance();
  HeapProfiler::set_exact_mode(true);
  void* tracked = exact_site_alloc(48);
  void* hidden = nullptr;
  void* freed_block = exact_site_alloc(80);
  const auto freed_inside = reinterpret_cast<std::uintptr_t>(freed_block);
  {
    const UntrackedScope untracked;
    {
      const UntrackedScope nested;  // nesting keeps the scope until the outer one ends
    }
    hidden = exact_site_alloc(64);
    std::free(freed_block);
  }
  void* after = exact_site_alloc(96);
  HeapProfiler::set_exact_mode(false);
  auto listed_at = [&](std::uintptr_t a, std::size_t size) {
    const LiveBlock* b = table.find_containing(a);
    return b != nullptr && b->address == a && b->size == size;
  };
  auto listed = [&](void* p, std::size_t size) { return listed_at(reinterpret_cast<std::uintptr_t>(p), size); };
  table.freeze();
  const bool tracked_listed = listed(tracked, 48);
  const bool hidden_listed = listed(hidden, 64);
  const bool freed_listed = listed_at(freed_inside, 80);  // a reuse of the address has another size
  const bool after_listed = listed(after, 96);
  table.thaw();
  std::free(tracked);
  std::free(hidden);
  std::free(after);
  EXPECT_TRUE(tracked_listed);
  EXPECT_FALSE(hidden_listed);
  EXPECT_FALSE(freed_listed);
  EXPECT_TRUE(after_listed);
}

TEST_F(LiveBlockTableTest, FindContaining_OutsideAnyBlock_ReturnsNull) {
  LiveBlockTable& table = LiveBlockTable::instance();
  table.freeze();
  EXPECT_EQ(table.find_containing(8), nullptr);
  table.thaw();
}

TEST_F(LiveBlockTableTest, Freeze_BlocksAllocatingThreadsUntilThaw) {
  LiveBlockTable& table = LiveBlockTable::instance();
  HeapProfiler::set_exact_mode(true);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> done{0};
  std::thread worker([&] {
    // relaxed: progress counter and stop flag only.
    while (!stop.load(std::memory_order_relaxed)) {
      std::free(exact_site_alloc(64));
      done.fetch_add(1, std::memory_order_relaxed);
    }
  });
  while (done.load(std::memory_order_relaxed) < 100) std::this_thread::yield();
  table.freeze();
  const std::uint64_t at_freeze = done.load(std::memory_order_relaxed);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const std::uint64_t after_wait = done.load(std::memory_order_relaxed);
  // The freezing thread itself may still allocate (it is exempt).
  void* mine = std::malloc(32);
  std::free(mine);
  table.thaw();
  stop.store(true, std::memory_order_relaxed);
  worker.join();
  // At most the one allocation in flight when freeze() began completes.
  EXPECT_LE(after_wait - at_freeze, 1u);
  EXPECT_GT(done.load(std::memory_order_relaxed), after_wait);
}

}  // namespace
}  // namespace syncscope::prof
