// Exact mode: every live block is in the LiveBlockTable, no freed one is,
// lookups by interior pointer work, and freeze() holds allocating threads.
#include "syncscope/prof/live_blocks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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

// A thread's voluntary context switches (/proc/self/task/<tid>/status),
// read with plain syscalls. A hook held by freeze() waits in nanosleep, one
// voluntary switch per wake-up; a thread allocating freely makes almost none.
long voluntary_switches(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/status", static_cast<int>(tid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[4096];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  const char* field = std::strstr(buf, "voluntary_ctxt_switches:");
  if (field == nullptr || (field > buf && field[-1] == '_')) return -1;  // not "nonvoluntary_"
  return std::strtol(field + std::strlen("voluntary_ctxt_switches:"), nullptr, 10);
}

TEST_F(LiveBlockTableTest, Freeze_BlocksAllocatingThreadsUntilThaw) {
  LiveBlockTable& table = LiveBlockTable::instance();
  HeapProfiler::set_exact_mode(true);
  std::atomic<bool> stop{false};
  std::atomic<pid_t> worker_tid{0};
  // started: allocations the worker began; done: the ones it finished.
  // started - done is 1 exactly while the worker is inside an allocation.
  std::atomic<std::uint64_t> started{0};
  std::atomic<std::uint64_t> done{0};
  std::thread worker([&] {
    // relaxed (all): progress counters, a tid and a stop flag; the test reads
    // them as numbers and publishes nothing through them.
    worker_tid.store(static_cast<pid_t>(::syscall(SYS_gettid)), std::memory_order_relaxed);
    while (!stop.load(std::memory_order_relaxed)) {
      started.fetch_add(1, std::memory_order_relaxed);
      std::free(exact_site_alloc(64));
      done.fetch_add(1, std::memory_order_relaxed);
    }
  });
  // The worker is running before the freeze: 100 allocations done.
  while (done.load(std::memory_order_relaxed) < 100) std::this_thread::yield();
  const pid_t tid = worker_tid.load(std::memory_order_relaxed);
  const bool frozen = table.freeze();
  const std::uint64_t at_freeze = done.load(std::memory_order_relaxed);
  const long switches_at_freeze = voluntary_switches(tid);
  // The worker provably ran while frozen: it woke in the hook's wait at least
  // kHeldWakeups times without finishing an allocation. The wait ends early
  // when the worker finishes one (not held), and is bounded by a deadline
  // that only a worker never scheduled reaches; the assertions then fail.
  constexpr long kHeldWakeups = 50;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  long switches = switches_at_freeze;
  while (switches - switches_at_freeze < kHeldWakeups &&
         done.load(std::memory_order_relaxed) - at_freeze <= 1 &&
         std::chrono::steady_clock::now() < give_up) {
    std::this_thread::yield();
    switches = voluntary_switches(tid);
  }
  const std::uint64_t after_wait = done.load(std::memory_order_relaxed);
  const std::uint64_t started_in_wait = started.load(std::memory_order_relaxed);
  // The freezing thread itself may still allocate (it is exempt).
  void* mine = std::malloc(32);
  std::free(mine);
  table.thaw();
  stop.store(true, std::memory_order_relaxed);
  worker.join();
  ASSERT_TRUE(frozen);
  ASSERT_GE(switches_at_freeze, 0) << "cannot read the worker's context switches";
  EXPECT_GE(switches - switches_at_freeze, kHeldWakeups) << "the worker never waited in the hook";
  // At most the one allocation in flight when freeze() began completes, and
  // the worker sat inside the next one.
  EXPECT_LE(after_wait - at_freeze, 1u);
  EXPECT_EQ(started_in_wait, after_wait + 1) << "the worker was not inside an allocation";
  EXPECT_GT(done.load(std::memory_order_relaxed), after_wait);
}

}  // namespace
}  // namespace syncscope::prof
