// Allocation-failure injection (syncscope/prof/fault_injection.h): what a
// failed request looks like through every kind of interposer, and prof's own
// paths under it (issue 13, item 8): the sampled slow path, live-block table
// growth, the freeze snapshot, the symbolizer and the profile writer give an
// error or a counted drop, never a crash or a silently lost record.
//
// Tests that need the profiler's tables unmapped (fresh) run only as their
// own process (ctest runs each test so); in a shared gtest process they skip.
// Workloads that could crash run in a forked child with a deadline.
#include "syncscope/prof/fault_injection.h"

#include <gtest/gtest.h>
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "prof/live_block_store.h"
#include "support/go_pprof.h"
#include "prof/stack_table.h"
#include "support/forked_child.h"
#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/live_blocks.h"
#include "syncscope/prof/symbolizer.h"

namespace syncscope::prof {
namespace {

namespace fi = fault_injection;
using std::chrono::milliseconds;
using test_support::run_in_child;

constexpr milliseconds kChildDeadline{60000};

// Opaque to the optimizer, so allocations are not elided.
__attribute__((noipa)) void* call_malloc(std::size_t n) { return std::malloc(n); }
// Opaque new-expressions: a new-expression whose result is unused may be elided.
__attribute__((noipa)) void* call_new_array(std::size_t n) { return ::operator new[](n); }
__attribute__((noipa)) void* call_aligned_new(std::size_t n) {
  return ::operator new[](n, std::align_val_t{64});
}
// The compiler cannot see that the block survives a failed realloc.
__attribute__((noipa)) void* call_realloc(void* p, std::size_t n) { return std::realloc(p, n); }

TEST(FaultInjection, NthMallocOnThisThread_FailsWithEnomem) {
  void* got[5] = {};
  std::uint64_t injected = 0;
  int saved_errno = 0;
  bool available = false;
  {
    fi::ScopedFault fault({.skip = 2});
    available = fault.available();
    for (void*& p : got) {
      errno = 0;
      p = call_malloc(100);
      if (p == nullptr) saved_errno = errno;
    }
    injected = fault.injected();
  }
  ASSERT_TRUE(available);
  EXPECT_NE(got[0], nullptr);
  EXPECT_NE(got[1], nullptr);
  EXPECT_EQ(got[2], nullptr);
  EXPECT_EQ(saved_errno, ENOMEM);
  EXPECT_NE(got[3], nullptr);
  EXPECT_NE(got[4], nullptr);
  EXPECT_EQ(injected, 1u);
  for (void* p : got) std::free(p);
}

TEST(FaultInjection, SizeFilter_FailsOnlyThatSize) {
  void* other = nullptr;
  void* chosen = nullptr;
  void* calloced = nullptr;
  {
    fi::ScopedFault fault({.failures = fi::kUnlimited, .size = 777});
    other = call_malloc(776);
    chosen = call_malloc(777);
    calloced = std::calloc(7, 111);  // 777 bytes
  }
  EXPECT_NE(other, nullptr);
  EXPECT_EQ(chosen, nullptr);
  EXPECT_EQ(calloced, nullptr);
  std::free(other);
}

TEST(FaultInjection, EveryInterposer_FailsAsGlibcDoes) {
  void* old = call_malloc(64);
  static_cast<char*>(old)[0] = 'k';
  // Results are collected first and checked after disarm(): gtest's own
  // allocations must not meet the armed plan.
  void* aligned = nullptr;
  bool threw_new = false, threw_aligned_new = false;
  void *re = nullptr, *aa = nullptr, *ma = nullptr, *va = nullptr, *nothrow = nullptr;
  int pm = 0;
  std::uint64_t injected = 0;
  {
    fi::ScopedFault fault({.failures = fi::kUnlimited});
    re = call_realloc(old, 4096);  // fails: the old block stays valid
    pm = posix_memalign(&aligned, 64, 256);
    aa = aligned_alloc(64, 256);
    ma = memalign(64, 256);
    va = valloc(256);
    try {
      (void)call_new_array(400);
    } catch (const std::bad_alloc&) {
      threw_new = true;
    }
    try {
      (void)call_aligned_new(64);
    } catch (const std::bad_alloc&) {
      threw_aligned_new = true;
    }
    nothrow = new (std::nothrow) int[100];
    injected = fault.injected();
  }
  EXPECT_EQ(re, nullptr);
  EXPECT_EQ(pm, ENOMEM);
  EXPECT_EQ(aa, nullptr);
  EXPECT_EQ(ma, nullptr);
  EXPECT_EQ(va, nullptr);
  EXPECT_TRUE(threw_new);
  EXPECT_TRUE(threw_aligned_new);
  EXPECT_EQ(nothrow, nullptr);
  EXPECT_GE(injected, 8u);  // and the exception objects' own allocations (libstdc++ falls back to its pool)
  EXPECT_EQ(static_cast<char*>(old)[0], 'k');
  std::free(old);
}

TEST(FaultInjection, ThrowingNew_RunsTheNewHandlerThenSucceeds) {
  static int handler_calls = 0;
  handler_calls = 0;
  const std::new_handler previous = std::set_new_handler([] { ++handler_calls; });
  int* p = nullptr;
  {
    fi::ScopedFault fault({});
    p = new int(42);
  }
  std::set_new_handler(previous);
  EXPECT_EQ(handler_calls, 1);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 42);
  delete p;
}

TEST(FaultInjection, CallingThreadOnly_OtherThreadsUnaffected) {
  std::atomic<bool> go{false};
  bool other_ok = false;
  std::thread other([&] {
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();  // acquire: pairs with the store below
    void* p = call_malloc(100);
    other_ok = p != nullptr;
    std::free(p);
  });
  void* mine = nullptr;
  {
    fi::ScopedFault fault({.failures = fi::kUnlimited});
    go.store(true, std::memory_order_release);  // release: the plan is armed before the thread allocates
    mine = call_malloc(100);
    other.join();  // joining allocates nothing
  }
  EXPECT_TRUE(other_ok);
  EXPECT_EQ(mine, nullptr);
}

// --- prof's own paths under failure -----------------------------------------

bool tables_fresh() {
  // relaxed: a flag read in a single-threaded test.
  return internal::StackTable::instance().size() == 0 &&
         !internal::LiveBlockStore::instance().ever_enabled.load(std::memory_order_relaxed);
}

__attribute__((noinline)) void* growth_site(std::size_t n) {
  void* p = call_malloc(n);
  asm volatile("" : : "r"(p) : "memory");
  return p;
}

// Live-block table growth fails: the shards keep filling past their growth
// point (nothing lost); once one is full, further blocks are counted as
// dropped, and listed + dropped == allocated.
int live_block_growth_without_memory() {
  LiveBlockTable& table = LiveBlockTable::instance();
  HeapProfiler::set_exact_mode(true);
  std::vector<void*> warm(4000);  // maps every shard's first table (1024 slots)
  for (void*& p : warm) p = growth_site(16);
  for (void* p : warm) std::free(p);
  std::vector<void*> blocks;
  blocks.reserve(70000);
  std::size_t listed_at_growth_point = 0;
  {
    fi::ScopedFault fault({.target = fi::Target::kProfilerPages, .failures = fi::kUnlimited});
    // ~600 per shard: past the 1/2 load where each shard grows, below 15/16.
    for (int i = 0; i < 38000; ++i) blocks.push_back(growth_site(16));
    if (table.dropped_blocks() != 0) return 2;
    fi::disarm();
    if (!table.freeze()) return 3;
    for (void* p : blocks) listed_at_growth_point += table.find_containing(reinterpret_cast<std::uintptr_t>(p)) != nullptr;
    table.thaw();
    fi::arm({.target = fi::Target::kProfilerPages, .failures = fi::kUnlimited});
    for (int i = 0; i < 32000; ++i) blocks.push_back(growth_site(16));  // fills shards up
  }
  const std::uint64_t dropped = table.dropped_blocks();
  if (!table.freeze()) return 4;
  std::size_t listed = 0;
  for (void* p : blocks) listed += table.find_containing(reinterpret_cast<std::uintptr_t>(p)) != nullptr;
  table.thaw();
  HeapProfiler::set_exact_mode(false);
  for (void* p : blocks) std::free(p);
  if (listed_at_growth_point != 38000) return 5;  // lost without an error before the fix
  if (dropped == 0) return 6;
  return listed + dropped == blocks.size() ? 0 : 7;
}

TEST(ProfUnderFaults, LiveBlockTableGrowthFails_NoBlockLostAndDropsCounted) {
  if (!tables_fresh()) GTEST_SKIP() << "needs a fresh process (run through ctest)";
  const auto out = run_in_child(live_block_growth_without_memory, kChildDeadline);
  EXPECT_TRUE(out.exited_with(0)) << out.describe()
                                  << " (5: blocks lost when the table could not grow)";
}

// The freeze snapshot cannot be mapped: freeze() fails and thaws; the next works.
int freeze_without_memory() {
  LiveBlockTable& table = LiveBlockTable::instance();
  HeapProfiler::set_exact_mode(true);
  void* p = growth_site(48);
  bool first = true;
  {
    fi::ScopedFault fault({.target = fi::Target::kProfilerPages, .failures = fi::kUnlimited});
    first = table.freeze();
    if (!first && table.block_count() != 0) return 2;
    table.thaw();
  }
  std::free(p);  // would hang if the failed freeze left the table frozen
  const bool second = table.freeze();
  table.thaw();
  HeapProfiler::set_exact_mode(false);
  if (first) return 3;
  return second ? 0 : 4;
}

TEST(ProfUnderFaults, FreezeSnapshotUnmappable_FreezeFailsAndThaws) {
  if (!tables_fresh()) GTEST_SKIP() << "needs a fresh process (run through ctest)";
  const auto out = run_in_child(freeze_without_memory, kChildDeadline);
  EXPECT_TRUE(out.exited_with(0)) << out.describe() << " (3: freeze() succeeded with no snapshot)";
}

// The sampled heap cannot map its table: samples are counted as dropped
// (HeapCounters::samples_dropped), nothing crashes, and sampling works once
// memory is back.
int sampling_without_memory() {
  HeapProfiler::set_sample_rate(1);
  HeapProfiler::start();
  std::vector<void*> blocks;
  std::uint64_t dropped = 0;
  {
    fi::ScopedFault fault({.target = fi::Target::kProfilerPages, .failures = fi::kUnlimited});
    for (int i = 0; i < 10; ++i) blocks.push_back(growth_site(64));
    dropped = HeapProfiler::counters().samples_dropped;
  }
  const std::uint64_t samples_before = HeapProfiler::counters().samples;
  for (int i = 0; i < 10; ++i) blocks.push_back(growth_site(64));
  const std::uint64_t samples_after = HeapProfiler::counters().samples;
  HeapProfiler::stop();
  for (void* p : blocks) std::free(p);
  if (dropped < 10) return 2;
  return samples_after >= samples_before + 10 ? 0 : 3;
}

TEST(ProfUnderFaults, SampledHeapUnmappable_SamplesCountedAsDropped) {
  if (!tables_fresh()) GTEST_SKIP() << "needs a fresh process (run through ctest)";
  const auto out = run_in_child(sampling_without_memory, kChildDeadline);
  EXPECT_TRUE(out.exited_with(0)) << out.describe();
}

volatile int g_profiled_calls = 0;

// Unlike growth_site's body, so identical-code folding keeps its own name.
__attribute__((noinline)) void* profiled_site(std::size_t n) {
  g_profiled_calls = g_profiled_calls + 1;
  void* p = call_malloc(n);
  asm volatile("" : : "r"(p) : "memory");
  return p;
}

std::int64_t inuse_total(const HeapSnapshot& s) { return s.total_inuse_bytes(); }

// Fails the 1st, 2nd, ... allocation of a profile write (symbolizer, pprof
// builder, file writer) in turn, from a cold symbolizer: every write either
// succeeds or returns an error; none crashes; the samples are all still
// there afterwards and the site is still named.
int profile_writer_sweep(const std::string& path) {
  HeapProfiler::set_sample_rate(1);
  HeapProfiler::start();
  std::vector<void*> kept;
  for (int i = 0; i < 4; ++i) kept.push_back(profiled_site(1000));
  HeapProfiler::stop();
  const std::int64_t inuse_before = inuse_total(HeapProfiler::snapshot());
  constexpr std::uint64_t kMaxSweep = 200000;
  std::uint64_t errors = 0;
  std::uint64_t n = 0;
  for (; n < kMaxSweep; ++n) {
    std::string error;
    bool ok = false;
    std::uint64_t injected = 0;
    {
      fi::ScopedFault fault({.skip = n});
      const absl::Status written = HeapProfiler::write_heap_profile(path);
      ok = written.ok();
      error = std::string(written.message());
      injected = fault.injected();
    }
    if (injected == 0) {
      if (!ok) return 2;  // nothing failed, yet the write did
      break;            // the write makes fewer than n + 1 allocations now
    }
    if (!ok && error.empty()) return 3;
    errors += ok ? 0 : 1;
  }
  if (n == kMaxSweep || errors == 0) return 4;
  if (!HeapProfiler::write_heap_profile(path).ok()) return 5;
  if (inuse_total(HeapProfiler::snapshot()) != inuse_before) return 6;
  const auto site = reinterpret_cast<std::uintptr_t>(&profiled_site);
  const std::vector<SymbolFrame> frames = Symbolizer::instance().symbolize(site + 4);
  if (frames.empty() || frames.back().function.find("profiled_site") == std::string::npos) {
    std::fprintf(stderr, "site named '%s' after %llu writes (%llu failed)\n",
                 frames.empty() ? "" : frames.back().function.c_str(),
                 static_cast<unsigned long long>(n), static_cast<unsigned long long>(errors));
    return 7;
  }
  for (void* p : kept) std::free(p);
  return 0;
}

TEST(ProfUnderFaults, ProfileWriteWithEachAllocationFailing_ErrorNeverCrash) {
  test_support::ScratchDir dir;
  const std::string path = dir.file("heap.pb.gz");
  const auto out = run_in_child(
      [&] {
        try {
          return profile_writer_sweep(path);
        } catch (...) {
          return 9;  // an allocation failure escaped as an exception
        }
      },
      kChildDeadline);
  EXPECT_TRUE(out.exited_with(0)) << out.describe() << " (9: an exception escaped the writer)";
  EXPECT_TRUE(std::filesystem::exists(path));
}

// libdw exits the process when its own allocator runs out of memory (its
// default OOM handler). The symbolizer turns that into std::bad_alloc: fail
// every request of libdw's block size (a page less 4 pointers) while a cold
// symbolizer resolves a pc; it must name the function once memory is back.
int symbolizer_with_libdw_out_of_memory() {
  const auto pc = reinterpret_cast<std::uintptr_t>(&profiled_site) + 4;
  const std::size_t libdw_block = static_cast<std::size_t>(sysconf(_SC_PAGESIZE)) - 4 * sizeof(void*);
  int outcome = 0;
  std::uint64_t injected = 0;
  {
    fi::ScopedFault fault({.failures = fi::kUnlimited, .size = libdw_block});
    try {
      (void)Symbolizer::instance().symbolize(pc);
      outcome = 1;
    } catch (const std::bad_alloc&) {
      outcome = 2;
    }
    injected = fault.injected();
  }
  const std::vector<SymbolFrame> frames = Symbolizer::instance().symbolize(pc);
  const bool named = !frames.empty() && frames.back().function.find("profiled_site") != std::string::npos;
  if (injected == 0) return 3;  // nothing of that size was requested: the test proves nothing
  if (outcome == 0) return 5;
  return named ? 0 : 4;
}

TEST(ProfUnderFaults, LibdwOutOfMemory_SymbolizerThrowsInsteadOfExiting) {
  const auto out = run_in_child(symbolizer_with_libdw_out_of_memory, kChildDeadline);
  EXPECT_TRUE(out.exited_with(0)) << out.describe() << " (1: libdw exited the process)";
}

}  // namespace
}  // namespace syncscope::prof
