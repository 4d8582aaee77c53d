// Stress: 4 threads x 10^6 mixed allocate/free operations through every
// interposer, with threads starting and exiting throughout and a fork in the
// middle, sampling at a high rate and exact mode on. Bounded by operation
// count; checks no deadlock (the fork child must finish) and the books
// against an oracle outside the profiler: each worker tallies its own
// allocations and frees, objects and bytes (glibc's malloc_usable_size, the
// definition after the interposer, of the block or, for a sampled block, of
// its chunk less the prefix), and the counters must match the tally up
// to the test's own bookkeeping; the workload frees everything, so the exact
// table and the sampled in-use estimate return to where they started.
#include <gtest/gtest.h>
#include <dlfcn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <latch>
#include <new>
#include <random>
#include <thread>
#include <vector>

#include "prof/sampled_prefix.h"
#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/live_blocks.h"

namespace syncscope::prof {
namespace {

constexpr int kThreads = 4;
constexpr int kGenerations = 4;                       // threads exit and restart 4 times
constexpr int kOpsPerThread = 1000000 / kGenerations;  // 10^6 per thread slot in total

struct Block {
  void* p;
  int kind;
};

// The workload's own books: what it allocated and freed, counted at the call
// sites. A realloc of a live block is an allocation of the new block and a
// free of the old one, as the allocator sees it.
struct Tally {
  std::uint64_t allocs = 0, frees = 0, alloc_bytes = 0, freed_bytes = 0;
  Tally& operator+=(const Tally& o) {
    allocs += o.allocs;
    frees += o.frees;
    alloc_bytes += o.alloc_bytes;
    freed_bytes += o.freed_bytes;
    return *this;
  }
};

using UsableFn = std::size_t (*)(void*);
// glibc's malloc_usable_size, not the interposer's.
UsableFn glibc_usable() {
  static const auto fn = reinterpret_cast<UsableFn>(dlsym(RTLD_NEXT, "malloc_usable_size"));
  return fn;
}

// What malloc_usable_size must say of the in-use block p, from glibc's own
// function: glibc's for its block; for a block the profiler sampled (behind
// a prefix: prof/sampled_prefix.h), glibc's for the chunk less the prefix.
std::size_t usable(void* p) {
  const std::size_t word = static_cast<const std::size_t*>(p)[-1];
  if (!internal::is_sampled_tag(word)) return glibc_usable()(p);
  const std::size_t offset = internal::sampled_offset(word);
  return glibc_usable()(static_cast<char*>(p) - offset) - offset;
}

void release(const Block& b, Tally& t) {
  ++t.frees;
  t.freed_bytes += usable(b.p);
  switch (b.kind) {
    case 0: std::free(b.p); break;
    case 1: delete[] static_cast<char*>(b.p); break;
    case 2: ::operator delete(b.p, std::align_val_t{64}); break;
    default: std::free(b.p); break;
  }
}

Block allocate(std::mt19937& rng, Tally& t) {
  const std::size_t n = 8 + rng() % 4096;
  Block b{nullptr, 0};
  switch (rng() % 6) {
    case 0: b = {std::malloc(n), 0}; break;
    case 1: b = {new char[n], 1}; break;
    case 2: b = {::operator new(n, std::align_val_t{64}), 2}; break;
    case 3: b = {std::calloc(1, n), 0}; break;
    case 4: {
      void* p = nullptr;
      b = {posix_memalign(&p, 32, n) == 0 ? p : std::malloc(n), 0};
      break;
    }
    default: {
      void* first = std::malloc(n / 2 + 1);
      ++t.allocs;
      t.alloc_bytes += usable(first);
      ++t.frees;  // realloc frees `first` (or keeps it as the new block)
      t.freed_bytes += usable(first);
      b = {std::realloc(first, n), 0};
      break;
    }
  }
  ++t.allocs;
  t.alloc_bytes += usable(b.p);
  return b;
}

// Overlap evidence: workers inside their operation loop now and the most
// ever inside at once (relaxed: counters read after the joins), and how many
// loops were entered and left (seq_cst: the fork check below compares reads
// of the two counters taken before and after fork(), which needs their one
// total order).
std::atomic<int> g_inside{0};
std::atomic<int> g_max_inside{0};
std::atomic<int> g_entered{0};
std::atomic<int> g_left{0};

void note_entered() {
  g_entered.fetch_add(1, std::memory_order_seq_cst);  // seq_cst: see above
  const int now = g_inside.fetch_add(1, std::memory_order_relaxed) + 1;
  int seen = g_max_inside.load(std::memory_order_relaxed);
  while (now > seen && !g_max_inside.compare_exchange_weak(seen, now, std::memory_order_relaxed)) {
  }
}

Tally worker(unsigned seed) {
  std::mt19937 rng(seed);
  Tally t;
  std::vector<Block> live;
  live.reserve(1024);
  note_entered();
  for (int op = 0; op < kOpsPerThread; ++op) {
    if (live.size() < 1000 && (live.empty() || rng() % 2 == 0)) {
      live.push_back(allocate(rng, t));
    } else {
      const std::size_t i = rng() % live.size();
      release(live[i], t);
      live[i] = live.back();
      live.pop_back();
    }
  }
  g_inside.fetch_sub(1, std::memory_order_relaxed);
  g_left.fetch_add(1, std::memory_order_seq_cst);  // seq_cst: see above
  for (const Block& b : live) release(b, t);
  return t;
}

std::size_t table_blocks();

// In the child: the hooks and their locks must work after fork, and a
// freeze must not wait for the parent's threads (which do not exist here).
int child_after_fork() {
  std::mt19937 rng(7);
  const HeapCounters before = HeapProfiler::counters();
  std::vector<Block> blocks;
  Tally t;
  for (int i = 0; i < 10000; ++i) blocks.push_back(allocate(rng, t));
  for (const Block& b : blocks) release(b, t);
  const HeapCounters after = HeapProfiler::counters();
  table_blocks();
  return after.allocated_objects - before.allocated_objects >= t.allocs ? 0 : 3;
}

std::size_t table_blocks() {
  LiveBlockTable& t = LiveBlockTable::instance();
  t.freeze();
  const std::size_t n = t.block_count();
  t.thaw();
  return n;
}

TEST(HeapStress, ThreadsChurnAndFork_CountersMatchTheWorkloadsTally) {
  ASSERT_NE(glibc_usable(), nullptr);
  HeapProfiler::set_sample_rate(4096);
  HeapProfiler::start();
  HeapProfiler::set_exact_mode(true);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  std::vector<Tally> tallies(kThreads * kGenerations);
  const std::size_t blocks_before = table_blocks();
  const std::int64_t inuse_before = HeapProfiler::snapshot().total_inuse_bytes();
  const HeapCounters before = HeapProfiler::counters();

  int child_status = -1;
  bool forked_mid_flight = false;
  for (int gen = 0; gen < kGenerations; ++gen) {
    // Each generation's workers start together (and the test thread too,
    // for the fork generation).
    std::latch start(kThreads + 1);
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&tallies, &start, gen, t] {
        start.arrive_and_wait();
        tallies[gen * kThreads + t] = worker(static_cast<unsigned>(gen * 100 + t));
      });
    }
    start.arrive_and_wait();
    if (gen == kGenerations / 2) {
      // Workers mid-flight: fork once one of this generation is inside its
      // loop. Fewer loops left after fork() returned than were entered
      // before it: one was inside across the fork.
      const int entered_before_generation = gen * kThreads;
      while (g_entered.load(std::memory_order_seq_cst) == entered_before_generation) std::this_thread::yield();
      const int entered = g_entered.load(std::memory_order_seq_cst);  // seq_cst: see g_entered
      const pid_t pid = fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) _exit(child_after_fork());
      forked_mid_flight = g_left.load(std::memory_order_seq_cst) < entered;  // seq_cst: see g_entered
      // Bounded wait: a deadlocked child fails the test instead of hanging it.
      for (int i = 0; i < 300 && child_status == -1; ++i) {
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid) child_status = st;
        else std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (child_status == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
    for (std::thread& th : threads) th.join();
    threads.clear();
  }

  const HeapCounters after = HeapProfiler::counters();
  const std::size_t blocks_after = table_blocks();
  const std::int64_t inuse_after = HeapProfiler::snapshot().total_inuse_bytes();
  HeapProfiler::set_exact_mode(false);
  HeapProfiler::stop();
  HeapProfiler::set_sample_rate(HeapProfiler::kDefaultSampleRate);

  ASSERT_NE(child_status, -1) << "fork child deadlocked";
  // Concurrency happened: the workers' loops overlapped, and the fork came
  // while at least one was allocating.
  EXPECT_GE(g_max_inside.load(), 2) << "the workers ran one after another";
  EXPECT_TRUE(forked_mid_flight) << "the fork did not happen while a worker allocated";
  EXPECT_TRUE(WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0) << child_status;
  Tally workload;
  for (const Tally& t : tallies) workload += t;
  ASSERT_EQ(workload.alloc_bytes, workload.freed_bytes) << "the workload frees all it allocates";
  ASSERT_EQ(workload.allocs, workload.frees);
  // The counters saw the workload's calls plus the test's own bookkeeping
  // (thread objects, vectors, snapshots): at least the tally, and little more.
  constexpr std::uint64_t kOwnObjects = 200;
  constexpr std::uint64_t kOwnBytes = 1 << 20;
  const std::uint64_t allocated = after.allocated_objects - before.allocated_objects;
  const std::uint64_t freed = after.freed_objects - before.freed_objects;
  const std::uint64_t allocated_bytes = after.allocated_bytes - before.allocated_bytes;
  const std::uint64_t freed_bytes = after.freed_bytes - before.freed_bytes;
  EXPECT_GE(workload.allocs, static_cast<std::uint64_t>(kThreads) * kGenerations * kOpsPerThread / 2);
  EXPECT_GE(allocated, workload.allocs);
  EXPECT_LT(allocated - workload.allocs, kOwnObjects);
  EXPECT_GE(freed, workload.frees);
  EXPECT_LT(freed - workload.frees, kOwnObjects);
  EXPECT_GE(allocated_bytes, workload.alloc_bytes);
  EXPECT_LT(allocated_bytes - workload.alloc_bytes, kOwnBytes);
  EXPECT_GE(freed_bytes, workload.freed_bytes);
  EXPECT_LT(freed_bytes - workload.freed_bytes, kOwnBytes);
  const auto live_delta = static_cast<std::int64_t>(after.live_bytes) -
                          static_cast<std::int64_t>(before.live_bytes);
  EXPECT_LT(std::llabs(live_delta), kOwnBytes);
  EXPECT_LT(blocks_after, blocks_before + 200);
  EXPECT_LT(std::llabs(inuse_after - inuse_before), 1 << 20);
  EXPECT_GT(after.samples - before.samples, 1000u);
}

}  // namespace
}  // namespace syncscope::prof
