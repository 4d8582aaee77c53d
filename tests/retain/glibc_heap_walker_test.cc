// The glibc heap walk against its oracle, the exact live-block table: in one
// process with exact mode on, every tracked block must be walked with its
// usable size, and no chunk the test freed (and nothing reallocated) may be
// reported live. Worker threads park at a barrier, outside malloc, while the
// walk runs, so no arena is locked and nothing moves under it.
#include <gtest/gtest.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>

#include <algorithm>
#include <barrier>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "prof/sampled_prefix.h"
#include "retain/glibc_heap_walker.h"
#include "retain/live_heap_source.h"
#include "retain/memory_image.h"
#include "support/forked_child.h"
#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/live_blocks.h"

namespace syncscope::retain::internal {
namespace {

constexpr int kThreads = 8;
constexpr int kRandomBatches = 6;
constexpr int kRandomOpsPerThread = 3000;

struct Walked {
  HeapWalkResult result;
  std::vector<GraphBlock> blocks;
  std::vector<prof::LiveBlock> exact;  // the oracle, copied at the same moment
  std::vector<std::size_t> usable;     // malloc_usable_size of each exact block, then
};

// One walk of this process' heap, as the live snapshot does it (minus the
// stop: the caller guarantees no other thread is in malloc).
Walked walk_now() {
  static HeapWalkPrep prep;
  static GlibcHeapWalker walker;
  Walked w;
  const absl::Status s = prepare_heap_walk(prep);
  if (!s.ok()) {
    w.result.status = WalkStatus::kNotRecognised;
    std::snprintf(w.result.message, sizeof w.result.message, "%s", std::string(s.message()).c_str());
    return w;
  }
  MmapBuffer<char> text;
  MmapBuffer<Mapping> maps;
  MmapBuffer<GraphBlock> out;
  // Frozen, the table takes no new blocks; this thread's allocations from
  // here on (the copies below) are not recorded, so table and walk describe
  // the same moment.
  auto& table = prof::LiveBlockTable::instance();
  table.freeze();
  const bool maps_ok = read_proc_maps(text, maps);
  if (maps_ok) {
    const LiveMemoryImage image(maps);
    w.result = walker.walk(image, {prep.libc_data.data(), prep.libc_data.size()}, {}, out);
  }
  const auto tracked = table.sorted_blocks();
  w.exact.assign(tracked.begin(), tracked.end());
  for (const prof::LiveBlock& b : w.exact) w.usable.push_back(malloc_usable_size(reinterpret_cast<void*>(b.address)));
  w.blocks.assign(out.begin(), out.end());
  table.thaw();
  if (!maps_ok) std::snprintf(w.result.message, sizeof w.result.message, "cannot read /proc/self/maps");
  return w;
}

// The oracle comparison. `freed`: user pointers the test freed that must
// not be reported unless the table holds them again (reused).
void expect_matches_table(const Walked& w, const std::vector<std::uintptr_t>& freed) {
  ASSERT_EQ(w.result.status, WalkStatus::kOk) << w.result.message;
  const std::vector<prof::LiveBlock>& exact = w.exact;
  ASSERT_GT(exact.size(), 0u);
  const auto find = [&](std::uintptr_t a) -> const GraphBlock* {
    auto it = std::lower_bound(w.blocks.begin(), w.blocks.end(), a,
                               [](const GraphBlock& b, std::uintptr_t x) { return b.address < x; });
    return it != w.blocks.end() && it->address == a ? &*it : nullptr;
  };
  std::size_t missing = 0, wrong_size = 0;
  for (std::size_t i = 0; i < exact.size(); ++i) {
    const prof::LiveBlock& b = exact[i];
    const GraphBlock* g = find(b.address);
    if (g == nullptr) {
      if (++missing <= 5) {
        const GraphBlock* near = nullptr;
        for (const GraphBlock& g : w.blocks)
          if (g.address < b.address) near = &g;
        ADD_FAILURE() << "tracked block of " << b.size << " bytes at " << std::hex << b.address
                      << " not walked; the block before it: "
                      << (near ? near->address : 0) << " +" << (near ? near->size : 0) << std::dec;
      }
      continue;
    }
    if (g->size != w.usable[i] || g->size < b.size) {
      if (++wrong_size <= 5)
        ADD_FAILURE() << "block of " << b.size << " bytes walked with usable size " << g->size << ", malloc says "
                      << w.usable[i];
    }
  }
  EXPECT_EQ(missing, 0u) << "of " << exact.size() << " tracked blocks";
  EXPECT_EQ(wrong_size, 0u);
  std::set<std::uintptr_t> live;
  for (const prof::LiveBlock& b : exact) live.insert(b.address);
  std::size_t freed_reported = 0;
  for (std::uintptr_t f : freed) {
    if (live.count(f) == 0 && find(f) != nullptr) ++freed_reported;
  }
  EXPECT_EQ(freed_reported, 0u) << "free chunks reported as live blocks, of " << freed.size() << " freed";
}

// Allocations of every kind the hooks cover; frees some of them so that
// tcaches fill, fastbins get entries, and the unsorted/small/large bins hold
// chunks. Returns the kept pointers (to free later) and appends freed ones.
struct Mix {
  std::vector<void*> kept;
  std::vector<std::uintptr_t> freed;
};

void allocate_mix(Mix& m, unsigned seed) {
  std::mt19937 rng(seed);
  auto keep = [&](void* p) { ASSERT_NE(p, nullptr); m.kept.push_back(p); };
  auto drop = [&](void* p) { m.freed.push_back(reinterpret_cast<std::uintptr_t>(p)); free(p); };
  // small and large chunks between guards: frees land in unsorted, then bins
  for (std::size_t size : {1500, 3000, 9000, 40000, 100000}) {
    void* a = malloc(size);
    keep(malloc(32));
    void* b = malloc(size + 16);
    keep(malloc(32));
    drop(a);
    drop(b);
  }
  keep(malloc(200));  // sorts the unsorted chunks into their bins
  keep(calloc(10, 33));
  keep(calloc(1, 5000));
  // realloc: grow in place, move, shrink
  void* r = malloc(64);
  r = realloc(r, 4000);
  keep(r);
  void* s = malloc(5000);
  s = realloc(s, 100);
  keep(s);
  void* t = malloc(48);
  keep(malloc(48));  // blocks in-place growth
  t = realloc(t, 20000);
  keep(t);
  // aligned allocation functions
  keep(memalign(64, 100));
  keep(memalign(4096, 3000));
  keep(aligned_alloc(256, 512));
  void* pm = nullptr;
  ASSERT_EQ(posix_memalign(&pm, 128, 777), 0);
  keep(pm);
  keep(valloc(1000));
  keep(pvalloc(100));
  // above the mmap threshold (mmapped chunks), plain and aligned
  keep(malloc(std::size_t{1} << 20));
  keep(memalign(65536, 300000));
  void* big = malloc(std::size_t{3} << 20);
  drop(big);
  // operator new / new[]
  keep(new char[333]);
  keep(new std::uint64_t[17]);
  for (int i = 0; i < 50; ++i) keep(malloc(16 + rng() % 600));
  // Last, since a large request consolidates the fastbins: tcache and
  // fastbin sizes, 12 of each, 10 freed (7 fill the tcache, 3 go to fastbins).
  for (std::size_t size : {16, 24, 40, 56, 72, 100, 120}) {
    std::vector<void*> v;
    for (int i = 0; i < 12; ++i) v.push_back(malloc(size));
    for (int i = 0; i < 10; ++i) drop(v[i]);
    keep(v[10]);
    keep(v[11]);
  }
}

void free_mix(Mix& m) {
  for (void* p : m.kept) free(p);  // new[] of trivial types frees like malloc
  m.kept.clear();
}

class GlibcHeapWalk : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { prof::HeapProfiler::set_exact_mode(true); }
};

TEST_F(GlibcHeapWalk, MainThreadMix_WalkedSetEqualsExactTable) {
  // A first walk makes the walk's one-time allocations (reading the maps,
  // finding libc's data) before the mix: made after it, their frees can
  // coalesce with the top chunk and so consolidate the fastbins the mix
  // leaves for the walk to exclude.
  (void)walk_now();
  Mix m;
  allocate_mix(m, 1);
  Walked w = walk_now();
  expect_matches_table(w, m.freed);
  EXPECT_GE(w.result.stats.mmapped_chunks, 2u);
  EXPECT_GT(w.result.stats.fastbin_chunks, 0u);
  EXPECT_GT(w.result.stats.tcache_chunks, 0u);
  EXPECT_TRUE(w.result.stats.tcache_key_known);
  free_mix(m);
}

// Eight threads (thread arenas), each with the mix; four exit before the
// walk (their tcaches flushed back to the arenas), four park at a barrier.
TEST_F(GlibcHeapWalk, ThreadArenas_WalkedSetEqualsExactTable) {
  std::vector<Mix> mixes(kThreads);
  std::barrier ready(kThreads / 2 + 1), walked(kThreads / 2 + 1);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      allocate_mix(mixes[i], 100 + i);
      if (i % 2 == 0) return;  // exits: keeps its blocks, leaves its arena
      ready.arrive_and_wait();
      walked.arrive_and_wait();
    });
  }
  for (int i = 0; i < kThreads; i += 2) threads[i].join();
  ready.arrive_and_wait();
  Walked w = walk_now();
  walked.arrive_and_wait();
  for (int i = 1; i < kThreads; i += 2) threads[i].join();
  std::vector<std::uintptr_t> freed;
  for (auto& m : mixes) freed.insert(freed.end(), m.freed.begin(), m.freed.end());
  expect_matches_table(w, freed);
  EXPECT_GT(w.result.stats.arenas, 1u);
  for (auto& m : mixes) free_mix(m);
}

// An arena heap that grows past its 64 MiB reservation (a second heap) and
// shrinks again when its blocks are freed.
TEST_F(GlibcHeapWalk, ArenaHeapGrowsAndShrinks_WalkedSetEqualsExactTable) {
  std::vector<void*> blocks;
  std::vector<std::uintptr_t> freed;
  std::barrier step(2);
  std::thread t([&] {
    for (int i = 0; i < 900; ++i) blocks.push_back(malloc(100 * 1024));  // below the mmap threshold
    step.arrive_and_wait();  // walk 1: grown
    step.arrive_and_wait();
    for (std::size_t i = 100; i < blocks.size(); ++i) {
      freed.push_back(reinterpret_cast<std::uintptr_t>(blocks[i]));
      free(blocks[i]);
    }
    blocks.resize(100);
    step.arrive_and_wait();  // walk 2: shrunk
    step.arrive_and_wait();
  });
  step.arrive_and_wait();
  Walked grown = walk_now();
  step.arrive_and_wait();
  step.arrive_and_wait();
  Walked shrunk = walk_now();
  step.arrive_and_wait();
  t.join();
  expect_matches_table(grown, {});
  expect_matches_table(shrunk, freed);
  EXPECT_GE(grown.result.stats.max_heaps_per_arena, 2u) << "90 MiB in one thread's arena spans two heaps";
  for (void* p : blocks) free(p);
}

// Random alloc/free/realloc batches across threads, compared after each.
// Returns, per batch, how many of the table's blocks sit behind a sampled
// block's prefix (prof/sampled_prefix.h).
std::vector<std::size_t> random_batches_match_table() {
  constexpr int kWorkers = 4;
  std::vector<std::vector<void*>> live(kWorkers);
  std::vector<std::vector<std::uintptr_t>> freed(kWorkers);
  std::barrier sync(kWorkers + 1);
  std::vector<std::thread> threads;
  std::vector<std::size_t> prefixed_per_batch;
  for (int t = 0; t < kWorkers; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(7 + t);
      for (int batch = 0; batch < kRandomBatches; ++batch) {
        freed[t].clear();
        for (int op = 0; op < kRandomOpsPerThread; ++op) {
          const unsigned dice = rng() % 10;
          const std::size_t size = rng() % 4 == 0 ? 1 + rng() % 200000 : 1 + rng() % 1100;
          auto& v = live[t];
          if (dice < 5 || v.empty()) {
            v.push_back(dice == 0 ? calloc(1, size) : malloc(size));
          } else if (dice < 8) {
            const std::size_t i = rng() % v.size();
            freed[t].push_back(reinterpret_cast<std::uintptr_t>(v[i]));
            free(v[i]);
            v[i] = v.back();
            v.pop_back();
          } else {
            const std::size_t i = rng() % v.size();
            const auto old = reinterpret_cast<std::uintptr_t>(v[i]);
            void* n = realloc(v[i], size);
            if (reinterpret_cast<std::uintptr_t>(n) != old) freed[t].push_back(old);
            v[i] = n;
          }
        }
        sync.arrive_and_wait();  // parked: the main thread walks
        sync.arrive_and_wait();
      }
      for (void* p : live[t]) free(p);
    });
  }
  for (int batch = 0; batch < kRandomBatches; ++batch) {
    sync.arrive_and_wait();
    Walked w = walk_now();
    std::vector<std::uintptr_t> all_freed;
    for (auto& f : freed) all_freed.insert(all_freed.end(), f.begin(), f.end());
    SCOPED_TRACE("batch " + std::to_string(batch));
    expect_matches_table(w, all_freed);
    std::size_t prefixed = 0;
    for (const prof::LiveBlock& b : w.exact) {
      prefixed += prof::internal::is_sampled_tag(reinterpret_cast<const std::size_t*>(b.address)[-1]);
    }
    prefixed_per_batch.push_back(prefixed);
    sync.arrive_and_wait();
  }
  for (auto& t : threads) t.join();
  return prefixed_per_batch;
}

TEST_F(GlibcHeapWalk, RandomBatches_WalkedSetEqualsExactTableAfterEachBatch) {
  for (std::size_t prefixed : random_batches_match_table()) EXPECT_EQ(prefixed, 0u);  // the profiler is off
}

// The same with the heap profiler sampling every 4 KiB: blocks it sampled
// sit behind a prefix inside their chunks, and the walk must report each at
// the address the program holds, with the usable size our
// malloc_usable_size gives (the oracle, as for every block). The blocks are
// never written, so a chunk glibc carves where a sampled block was freed
// keeps whatever that block's prefix left behind.
TEST_F(GlibcHeapWalk, SampledBlocks_WalkedAtTheProgramsAddress) {
  prof::HeapProfiler::set_sample_rate(4096);
  prof::HeapProfiler::start();
  const std::vector<std::size_t> prefixed = random_batches_match_table();
  prof::HeapProfiler::stop();
  prof::HeapProfiler::set_sample_rate(prof::HeapProfiler::kDefaultSampleRate);
  // A quarter of the requests are of up to 200 KB, nearly all sampled: over
  // 500 of them are live after the first batch.
  for (std::size_t n : prefixed) EXPECT_GT(n, 100u);
}

// A corrupted chunk header: the walk stops with "not recognised" and the
// process keeps running (in a forked child: the heap stays corrupt).
TEST_F(GlibcHeapWalk, CorruptChunkHeader_ReportsNotRecognisedAndKeepsRunning) {
  const auto outcome = test_support::run_in_child(
      [] {
        void* a = malloc(200);
        void* b = malloc(200);
        void* c = malloc(200);
        // The header is glibc's: hide its provenance from the optimiser.
        std::uintptr_t header_address = reinterpret_cast<std::uintptr_t>(b) - sizeof(std::uintptr_t);
        asm volatile("" : "+r"(header_address));
        auto* header = reinterpret_cast<volatile std::uintptr_t*>(header_address);
        const std::uintptr_t saved = *header;
        *header = 0x12345;  // size not a multiple of 16, runs nowhere
        Walked w = walk_now();
        *header = saved;
        free(a), free(b), free(c);
        if (w.result.status != WalkStatus::kNotRecognised) return 1;
        if (std::strstr(w.result.message, "heap layout not recognised") == nullptr) return 2;
        return 0;
      },
      std::chrono::seconds(60));
  EXPECT_TRUE(outcome.exited_with(0)) << outcome.describe();
}

}  // namespace
}  // namespace syncscope::retain::internal
