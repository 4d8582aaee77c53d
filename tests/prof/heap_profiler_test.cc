// HeapProfiler through the link-in interposers: counters, the pprof heap
// profile read by the real `go tool pprof`, and the sampling estimate.
#include "syncscope/prof/heap_profiler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <dlfcn.h>
#include <malloc.h>
#include <sys/mman.h>

#include <cstdlib>
#include <memory>
#include <new>
#include <random>
#include <thread>

#include "support/forked_child.h"
#include "support/go_pprof.h"
#include "support/text_match.h"
#include "prof/sampled_heap.h"
#include "syncscope/prof/stack_trace.h"
#include "syncscope/prof/symbolizer.h"

namespace syncscope::prof {
namespace {

using ::syncscope::test_support::contains_match;
using ::syncscope::test_support::go_pprof;
using ::syncscope::test_support::ScratchDir;
using ::testing::HasSubstr;

// Restores the profiler's global settings after each test.
class HeapProfilerTest : public ::testing::Test {
 protected:
  void TearDown() override {
    HeapProfiler::stop();
    HeapProfiler::set_sample_rate(HeapProfiler::kDefaultSampleRate);
  }
};

volatile int g_sink = 0;

// Keeps the compiler from eliding a malloc/free pair whose block is unused.
void* escape(void* p) {
  asm volatile("" : : "r"(p) : "memory");
  return p;
}
std::vector<void*>* g_keep = nullptr;

// Known allocation sites with 3:1 live bytes.
__attribute__((noipa)) void heap_site_three(int n) {
  g_sink = 3;
  for (int i = 0; i < n; ++i) g_keep->push_back(std::malloc(3000));
}

__attribute__((noipa)) void heap_site_one(int n) {
  g_sink = 1;
  for (int i = 0; i < n; ++i) g_keep->push_back(new char[1000]);
}

TEST_F(HeapProfilerTest, HooksInstalled_InNormalBuild) { EXPECT_TRUE(HeapProfiler::hooks_installed()); }

// The oracle is the allocation pattern itself, not the profiler's own
// arithmetic (live = allocated - freed): this thread makes exactly 1000
// allocations of known sizes and frees them, nothing else allocates between
// the snapshots, and glibc's own malloc_usable_size (the definition after the
// interposer) says how many bytes each block holds.
TEST_F(HeapProfilerTest, Counters_MatchAKnownAllocationPattern) {
  using UsableFn = std::size_t (*)(void*);
  auto glibc_usable = reinterpret_cast<UsableFn>(dlsym(RTLD_NEXT, "malloc_usable_size"));
  ASSERT_NE(glibc_usable, nullptr);
  constexpr std::uint64_t kBlocks = 1000;
  std::vector<void*> blocks(kBlocks);  // allocated before the first snapshot
  const HeapCounters before = HeapProfiler::counters();
  for (std::uint64_t i = 0; i < kBlocks; ++i) blocks[i] = escape(std::malloc(100 + i));
  const HeapCounters mid = HeapProfiler::counters();
  std::uint64_t usable = 0;
  for (void* p : blocks) usable += glibc_usable(p);
  for (void* p : blocks) std::free(p);
  const HeapCounters after = HeapProfiler::counters();
  EXPECT_EQ(mid.allocated_objects - before.allocated_objects, kBlocks);
  EXPECT_EQ(mid.allocated_bytes - before.allocated_bytes, usable);
  EXPECT_EQ(mid.freed_objects, before.freed_objects);
  EXPECT_EQ(mid.live_bytes - before.live_bytes, usable);
  EXPECT_EQ(after.allocated_objects, mid.allocated_objects);
  EXPECT_EQ(after.freed_objects - mid.freed_objects, kBlocks);
  EXPECT_EQ(after.freed_bytes - mid.freed_bytes, usable);
  EXPECT_EQ(after.live_bytes, before.live_bytes);
}

// The same oracle through every interposer's fast and slow paths and every
// kind of glibc chunk: the smallest chunks, chunk sizes at multiples of 512
// bytes, mmapped chunks (which every free sends to the full path), aligned
// ones and calloc's. The byte counts come from the chunk header on both sides
// (issue 16, item 3), so each block must count as glibc's own
// malloc_usable_size says.
TEST_F(HeapProfilerTest, Counters_MatchGlibcUsableSizes_ThroughEveryHookAndChunkKind) {
  using UsableFn = std::size_t (*)(void*);
  auto glibc_usable = reinterpret_cast<UsableFn>(dlsym(RTLD_NEXT, "malloc_usable_size"));
  ASSERT_NE(glibc_usable, nullptr);
  const std::size_t kSizes[] = {1, 24, 40, 100, 504, 1000, 4080, 4096, 200000, 5000000};
  constexpr int kForms = 6;  // malloc, calloc, aligned_alloc, new, new[], aligned new
  std::vector<void*> blocks(std::size(kSizes) * kForms);  // allocated before the first snapshot
  const HeapCounters before = HeapProfiler::counters();
  std::size_t k = 0;
  for (std::size_t n : kSizes) {
    blocks[k++] = escape(std::malloc(n));
    blocks[k++] = escape(std::calloc(1, n));
    blocks[k++] = escape(aligned_alloc(64, n));
    blocks[k++] = escape(::operator new(n));
    blocks[k++] = escape(::operator new[](n));
    blocks[k++] = escape(::operator new(n, std::align_val_t{128}));
  }
  const HeapCounters mid = HeapProfiler::counters();
  std::uint64_t usable = 0;
  for (void* p : blocks) usable += glibc_usable(p);
  for (std::size_t i = 0; i < blocks.size(); i += kForms) {
    std::free(blocks[i]);
    std::free(blocks[i + 1]);
    std::free(blocks[i + 2]);
    ::operator delete(blocks[i + 3]);
    ::operator delete[](blocks[i + 4]);
    ::operator delete(blocks[i + 5], std::align_val_t{128});
  }
  const HeapCounters after = HeapProfiler::counters();
  EXPECT_EQ(mid.allocated_objects - before.allocated_objects, blocks.size());
  EXPECT_EQ(mid.allocated_bytes - before.allocated_bytes, usable);
  EXPECT_EQ(mid.freed_objects, before.freed_objects);
  EXPECT_EQ(after.freed_objects - mid.freed_objects, blocks.size());
  EXPECT_EQ(after.freed_bytes - mid.freed_bytes, usable);
  EXPECT_EQ(after.live_bytes, before.live_bytes);
}

// realloc counts as the free of the old block and the allocation of the new
// one, through its fast path (both blocks plain) and its full path (a block
// that is mmapped on either side), whether glibc resizes in place or moves.
TEST_F(HeapProfilerTest, Counters_ReallocCountsTheOldBlockFreedAndTheNewOneAllocated) {
  using UsableFn = std::size_t (*)(void*);
  auto glibc_usable = reinterpret_cast<UsableFn>(dlsym(RTLD_NEXT, "malloc_usable_size"));
  ASSERT_NE(glibc_usable, nullptr);
  const std::pair<std::size_t, std::size_t> kResizes[] = {
      {24, 40}, {100, 60}, {100, 3000}, {4080, 4096}, {3000, 300000}, {300000, 200}, {200000, 5000000}, {40, 40}};
  std::vector<void*> blocks(std::size(kResizes));
  for (std::size_t i = 0; i < blocks.size(); ++i) blocks[i] = escape(std::malloc(kResizes[i].first));
  std::uint64_t old_usable = 0;
  for (void* p : blocks) old_usable += glibc_usable(p);
  const HeapCounters before = HeapProfiler::counters();
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    void* p = escape(std::realloc(blocks[i], kResizes[i].second));
    ASSERT_NE(p, nullptr);
    blocks[i] = p;
  }
  const HeapCounters after = HeapProfiler::counters();
  std::uint64_t new_usable = 0;
  for (void* p : blocks) new_usable += glibc_usable(p);
  for (void* p : blocks) std::free(p);
  EXPECT_EQ(after.allocated_objects - before.allocated_objects, blocks.size());
  EXPECT_EQ(after.freed_objects - before.freed_objects, blocks.size());
  EXPECT_EQ(after.allocated_bytes - before.allocated_bytes, new_usable);
  EXPECT_EQ(after.freed_bytes - before.freed_bytes, old_usable);
}

TEST_F(HeapProfilerTest, UsableSize_MatchesGlibc) {
  // Our malloc_usable_size reads glibc's chunk header; glibc's own function
  // (the next definition after the interposer) must agree on every kind of
  // chunk: small, large, mmapped, aligned.
  using UsableFn = std::size_t (*)(void*);
  auto real = reinterpret_cast<UsableFn>(dlsym(RTLD_NEXT, "malloc_usable_size"));
  ASSERT_NE(real, nullptr);
  for (std::size_t n : {1u, 24u, 100u, 4096u, 200000u, 5000000u}) {
    void* p = std::malloc(n);
    EXPECT_EQ(malloc_usable_size(p), real(p)) << n;
    std::free(p);
    void* a = aligned_alloc(256, n);
    EXPECT_EQ(malloc_usable_size(a), real(a)) << n;
    std::free(a);
  }
}

TEST_F(HeapProfilerTest, Profile_GoToolPprofShowsSitesWithWeights) {
  std::vector<void*> keep;
  keep.reserve(4000);
  g_keep = &keep;
  HeapProfiler::set_sample_rate(1);  // every allocation: exact weights
  HeapProfiler::start();
  heap_site_three(1000);
  heap_site_one(1000);
  HeapProfiler::stop();
  ScratchDir dir;
  const std::string path = dir.file("heap.pb.gz");
  const absl::Status written = HeapProfiler::write_heap_profile(path);
  ASSERT_TRUE(written.ok()) << written;
  for (std::size_t i = 0; i < 1000; ++i) std::free(keep[i]);
  for (std::size_t i = 1000; i < keep.size(); ++i) delete[] static_cast<char*>(keep[i]);
  g_keep = nullptr;

  int status = 0;
  const std::string top = go_pprof(dir, "-top -unit=B -sample_index=inuse_space -focus=heap_site", path, &status);
  ASSERT_EQ(status, 0) << top;
  EXPECT_THAT(top, HasSubstr("Type: inuse_space"));
  // 3,000,000 vs 1,000,000 bytes: exactly 75% / 25% of the focused total.
  EXPECT_TRUE(contains_match(top, R"(3000000B\s+75\.0+%.*heap_site_three)")) << top;
  EXPECT_TRUE(contains_match(top, R"(1000000B\s+25\.0+%.*heap_site_one)")) << top;

  const std::string objs = go_pprof(dir, "-top -sample_index=alloc_objects -focus=heap_site", path, &status);
  EXPECT_TRUE(contains_match(objs, R"(\b1000\s+50\.0+%.*heap_site_three)")) << objs;

  const std::string traces = go_pprof(dir, "-traces -focus=heap_site_one", path, &status);
  ASSERT_EQ(status, 0) << traces;
  // The leaf of the trace is the user function, not the interposer.
  EXPECT_TRUE(contains_match(traces, R"(\d+\.?\d*[kM]?B\s+.*heap_site_one)")) << traces;
  EXPECT_THAT(traces, HasSubstr("Profile_GoToolPprofShowsSitesWithWeights"));
  EXPECT_THAT(traces, ::testing::Not(HasSubstr("on_alloc")));

  const std::string lines = go_pprof(dir, "-top -lines -focus=heap_site_three", path, &status);
  EXPECT_TRUE(contains_match(lines, R"(heap_site_three .*heap_profiler_test\.cc:\d+)")) << lines;
}

TEST_F(HeapProfilerTest, TopSites_NamesUserFunctions) {
  std::vector<void*> keep;
  keep.reserve(4000);
  g_keep = &keep;
  HeapProfiler::set_sample_rate(1);
  HeapProfiler::start();
  heap_site_three(500);
  heap_site_one(500);
  HeapProfiler::stop();
  std::vector<SiteSummary> top = HeapProfiler::top_sites(50);
  for (std::size_t i = 0; i < 500; ++i) std::free(keep[i]);
  for (std::size_t i = 500; i < keep.size(); ++i) delete[] static_cast<char*>(keep[i]);
  g_keep = nullptr;
  const SiteSummary* three = nullptr;
  const SiteSummary* one = nullptr;
  for (const SiteSummary& s : top) {
    if (s.function.find("heap_site_three") != std::string::npos) three = &s;
    if (s.function.find("heap_site_one") != std::string::npos) one = &s;
  }
  ASSERT_NE(three, nullptr);
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(three->live_bytes, 1500000);
  EXPECT_EQ(three->live_objects, 500);
  EXPECT_EQ(one->live_bytes, 500000);
  EXPECT_THAT(three->location, HasSubstr("heap_profiler_test.cc:"));
  EXPECT_LT(three - top.data(), one - top.data());  // sorted by live bytes
}

// Calls every interposed allocation function (14 allocations) and
// frees each with its matching function.
__attribute__((noipa)) int entry_points_site() {
  g_sink = 13;
  int n = 0;
  auto use = [&](void* p) { n += p != nullptr; return escape(p); };
  std::free(use(std::malloc(40)));
  std::free(use(std::calloc(4, 10)));
  std::free(use(std::realloc(nullptr, 40)));
  void* r = use(std::malloc(16));
  std::free(use(std::realloc(r, 4000)));  // realloc of a live block: 2 allocations
  std::free(use(reallocarray(nullptr, 4, 10)));
  void* pm = nullptr;
  n += posix_memalign(&pm, 64, 40) == 0;
  std::free(escape(pm));
  std::free(use(aligned_alloc(64, 64)));
  std::free(use(memalign(64, 40)));
  std::free(use(valloc(40)));
  std::free(use(pvalloc(40)));
  delete static_cast<int*>(use(new int(1)));
  ::operator delete[](use(::operator new[](40, std::nothrow)), std::nothrow);
  ::operator delete(use(::operator new(40, std::align_val_t{128})), std::align_val_t{128});
  return n;
}

TEST_F(HeapProfilerTest, EveryEntryPoint_RecordedAtTheCallersFrame) {
  HeapProfiler::set_sample_rate(1);
  HeapProfiler::start();
  const int calls = entry_points_site();
  HeapProfiler::stop();
  ASSERT_EQ(calls, 14);
  std::int64_t objects = 0, inuse = 0;
  for (const HeapSample& s : HeapProfiler::snapshot().samples) {
    if (s.pcs.empty()) continue;
    const auto frames = Symbolizer::instance().symbolize(s.pcs[0] - 1);
    if (frames.back().function.find("entry_points_site") == std::string::npos) continue;
    objects += s.alloc_objects;
    inuse += s.inuse_objects;
  }
  // 14 allocation calls (the realloc of a live block also frees one).
  EXPECT_EQ(objects, 14);
  EXPECT_EQ(inuse, 0);
}

// Go's scaling: a sampled block of size s stands for 1/(1-exp(-s/rate)).
// The estimate's relative error is about sqrt(rate / live_bytes), so the
// workload keeps ~1 GB live to make 10% a >4-sigma bound at 512 KiB: 1% of
// the 10^6 allocations stay live with sizes 16 B .. 1 MiB; the others are
// freed at once and are 16 B .. 4 KiB (so glibc recycles them in place).
// Blocks from 32 KiB up are mmap'ed by glibc (fixed threshold below) and
// never touched, so the test's resident memory stays small.
TEST_F(HeapProfilerTest, SamplingEstimate_Within10PercentOnMixedSizes) {
  constexpr int kAllocations = 1000000;
  ASSERT_EQ(mallopt(M_MMAP_THRESHOLD, 32 * 1024), 1);
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> live_size(std::log(16.0), std::log(1024.0 * 1024));
  std::uniform_real_distribution<double> temp_size(std::log(16.0), std::log(4096.0));
  std::bernoulli_distribution keep_it(0.01);
  std::vector<void*> live;
  live.reserve(kAllocations / 50);
  HeapProfiler::set_sample_rate(HeapProfiler::kDefaultSampleRate);
  HeapProfiler::start();
  const std::int64_t before = HeapProfiler::snapshot().total_inuse_bytes();
  std::int64_t truth = 0;
  for (int i = 0; i < kAllocations; ++i) {
    const bool keep = keep_it(rng);
    const auto n = static_cast<std::size_t>(std::exp(keep ? live_size(rng) : temp_size(rng)));
    void* p = escape(std::malloc(n));
    if (keep) {
      live.push_back(p);
      truth += static_cast<std::int64_t>(n);
    } else {
      std::free(p);
    }
  }
  const HeapSnapshot snap = HeapProfiler::snapshot();
  HeapProfiler::stop();
  const std::int64_t estimate = snap.total_inuse_bytes() - before;
  for (void* p : live) std::free(p);
  const double error = std::abs(static_cast<double>(estimate - truth)) / static_cast<double>(truth);
  std::printf("live bytes: truth %lld estimate %lld error %.2f%% (%zu live blocks)\n",
              static_cast<long long>(truth), static_cast<long long>(estimate), error * 100,
              live.size());
  EXPECT_LT(error, 0.10) << "truth " << truth << " estimate " << estimate;
  EXPECT_GT(HeapProfiler::counters().samples, 1000u);
}

TEST_F(HeapProfilerTest, Stop_FreesStillBookedAsFreed) {
  HeapProfiler::set_sample_rate(1);
  HeapProfiler::start();
  void* p = escape(std::malloc(123457));
  HeapProfiler::stop();
  const std::int64_t with = HeapProfiler::snapshot().total_inuse_bytes();
  std::free(p);
  const std::int64_t without = HeapProfiler::snapshot().total_inuse_bytes();
  EXPECT_EQ(with - without, 123457);
}

TEST_F(HeapProfilerTest, DeltaSince_ReportsOnlyNewAllocations) {
  HeapProfiler::set_sample_rate(1);
  HeapProfiler::start();
  const HeapSnapshot base = HeapProfiler::snapshot();
  void* p = escape(std::malloc(77777));
  const HeapSnapshot now = HeapProfiler::snapshot();
  HeapProfiler::stop();
  std::free(p);
  const HeapSnapshot delta = now.delta_since(base);
  std::int64_t alloc = 0;
  for (const HeapSample& s : delta.samples) alloc += s.alloc_bytes;
  EXPECT_GE(alloc, 77777);
  EXPECT_LT(alloc, 77777 + 65536);  // plus the snapshot's own bookkeeping at most
}

// Issue 16, item 3: free() rules out unsampled blocks from the word before
// them, so every sampled block must sit behind a prefix (sampled_prefix.h)
// through every entry point (realloc into a sampled block included), at the
// alignment asked for, and the filter must pass every sampled live block.
// The oracle is the sampled heap's own table of sampled live blocks, and
// glibc's own malloc_usable_size of the chunk behind each prefix.
TEST_F(HeapProfilerTest, FreeFilter_PassesEverySampledLiveBlock) {
  using internal::SampledHeap;
  using UsableFn = std::size_t (*)(void*);
  auto glibc_usable = reinterpret_cast<UsableFn>(dlsym(RTLD_NEXT, "malloc_usable_size"));
  ASSERT_NE(glibc_usable, nullptr);
  HeapProfiler::set_sample_rate(4096);  // many samples, most requests still unsampled
  HeapProfiler::start();
  std::vector<void*> c_blocks, new_blocks, aligned_c_blocks, aligned_new_blocks, page_rounded;
  std::mt19937 rng(16);
  for (int i = 0; i < 3000; ++i) {
    const std::size_t n = 8 + rng() % 3000;
    switch (i % 10) {
      case 0: c_blocks.push_back(escape(std::malloc(n))); break;
      case 1: c_blocks.push_back(escape(std::calloc(1, n))); break;
      case 2: c_blocks.push_back(escape(std::realloc(std::malloc(16), n))); break;
      case 3: aligned_c_blocks.push_back(escape(memalign(64, n))); break;
      case 4: {
        void* p = nullptr;
        ASSERT_EQ(posix_memalign(&p, 32, n), 0);
        aligned_c_blocks.push_back(escape(p));
        break;
      }
      case 5: aligned_c_blocks.push_back(escape(aligned_alloc(128, 128 * (1 + n / 128)))); break;
      case 6: new_blocks.push_back(escape(new char[n])); break;
      case 7: aligned_new_blocks.push_back(escape(::operator new(n, std::align_val_t{256}))); break;
      case 8: aligned_c_blocks.push_back(escape(valloc(n))); break;
      case 9: page_rounded.push_back(escape(pvalloc(n))); break;
    }
  }
  HeapProfiler::stop();
  std::vector<LiveBlock> sampled(SampledHeap::instance().live_count() + 64);
  sampled.resize(SampledHeap::instance().copy_live_blocks(sampled.data(), sampled.size()));
  std::size_t ours = 0;
  for (const LiveBlock& b : sampled) {
    const auto in = [&](const std::vector<void*>& v) {
      return std::find(v.begin(), v.end(), reinterpret_cast<void*>(b.address)) != v.end();
    };
    const bool aligned = in(aligned_c_blocks) || in(aligned_new_blocks);
    if (!in(c_blocks) && !in(new_blocks) && !aligned && !in(page_rounded)) continue;
    ++ours;
    void* p = reinterpret_cast<void*>(b.address);
    const std::size_t tag = static_cast<const std::size_t*>(p)[-1];
    ASSERT_TRUE(internal::valid_sampled_tag(tag)) << std::hex << b.address << " word " << tag;
    EXPECT_TRUE(SampledHeap::instance().maybe_sampled(b.address, tag)) << std::hex << b.address;
    const std::size_t offset = internal::sampled_offset(tag);
    auto* chunk = static_cast<std::size_t*>(p) - offset / sizeof(std::size_t);
    EXPECT_EQ(chunk[0], internal::kSampledPrefixMagic) << std::hex << b.address;
    EXPECT_EQ(chunk[1], tag) << std::hex << b.address;
    // The prefix is malloc's alignment, or the alignment asked for (memalign
    // and its kin ask for at least 32; valloc and pvalloc for a page).
    if (aligned || in(page_rounded)) {
      EXPECT_GE(offset, 32u) << std::hex << b.address;
    } else {
      EXPECT_EQ(offset, internal::kSampledPrefixBytes) << std::hex << b.address;
    }
    EXPECT_EQ(b.address % offset, 0u) << std::hex << b.address << " offset " << offset;
    // Our malloc_usable_size is glibc's for the chunk, less the prefix; the
    // chunk is the request plus the prefix, rounded as glibc rounds (a heap
    // chunk may keep up to 31 bytes glibc did not split off).
    EXPECT_EQ(malloc_usable_size(p), glibc_usable(chunk) - offset) << std::hex << b.address;
    EXPECT_GE(malloc_usable_size(p), b.size);
    const std::size_t head = chunk[-1];
    if ((head & 2) == 0 && !in(page_rounded)) {
      EXPECT_LT(malloc_usable_size(p), b.size + 48) << std::hex << b.address << std::dec << " size " << b.size;
    }
  }
  // Every sample had its prefix: the tag test stayed on.
  EXPECT_FALSE(SampledHeap::instance().untagged_samples());
  // About 3000 * 1.5 KiB / 4 KiB samples among this test's blocks.
  EXPECT_GT(ours, 300u);
  for (void* p : c_blocks) std::free(p);
  for (void* p : aligned_c_blocks) std::free(p);
  for (void* p : page_rounded) std::free(p);
  for (void* p : new_blocks) delete[] static_cast<char*>(p);
  for (void* p : aligned_new_blocks) ::operator delete(p, std::align_val_t{256});
}

// A realloc into or out of a sampled block moves it (sampled_alloc.h: a
// block behind a prefix never goes back to glibc's realloc): 500 blocks
// grown and shrunk through 40 sizes each at a rate that samples about one
// request in three. The oracle for the moves is the block's own contents (a
// pattern written at each step must survive the next realloc, up to the
// smaller size), and for the placement the sampled heap's table: every
// sampled live block is behind a prefix and passes the filter, and the tag
// test stayed on.
TEST_F(HeapProfilerTest, SampledRealloc_KeepsContentsAndTag) {
  using internal::SampledHeap;
  HeapProfiler::set_sample_rate(4096);
  HeapProfiler::start();
  std::vector<unsigned char*> blocks(500, nullptr);
  std::vector<std::size_t> sizes(blocks.size(), 0);
  std::mt19937 rng(16);
  for (int step = 0; step < 40; ++step) {
    for (std::size_t b = 0; b < blocks.size(); ++b) {
      const std::size_t n = 1 + rng() % 6000;
      auto* p = static_cast<unsigned char*>(escape(std::realloc(blocks[b], n)));
      ASSERT_NE(p, nullptr);
      const std::size_t kept = std::min(n, sizes[b]);
      for (std::size_t i = 0; i < kept; ++i) {
        ASSERT_EQ(p[i], static_cast<unsigned char>(b * 31 + i)) << "block " << b << " step " << step << " byte " << i;
      }
      for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(b * 31 + i);
      blocks[b] = p;
      sizes[b] = n;
    }
  }
  HeapProfiler::stop();
  std::vector<LiveBlock> sampled(SampledHeap::instance().live_count() + 64);
  sampled.resize(SampledHeap::instance().copy_live_blocks(sampled.data(), sampled.size()));
  std::size_t ours = 0;
  for (const LiveBlock& s : sampled) {
    if (std::find(blocks.begin(), blocks.end(), reinterpret_cast<unsigned char*>(s.address)) == blocks.end()) continue;
    ++ours;
    const std::size_t tag = reinterpret_cast<const std::size_t*>(s.address)[-1];
    EXPECT_TRUE(internal::valid_sampled_tag(tag)) << std::hex << s.address << " word " << tag;
    EXPECT_TRUE(SampledHeap::instance().maybe_sampled(s.address, tag)) << std::hex << s.address;
  }
  EXPECT_GT(ours, 100u);  // about 500 * 3 KiB / 4 KiB of the blocks are live samples
  EXPECT_FALSE(SampledHeap::instance().untagged_samples());
  for (unsigned char* p : blocks) std::free(p);
}

// Issue 16: sampling must not change the shape of the program's heap. Two
// forked children of the same parent (so the same arena to start from)
// allocate the same 2000 blocks of 1500 bytes and keep them: one with the
// profiler stopped, one sampling every 4 KiB on average (hundreds of
// samples). glibc's own count of free chunks (mallinfo2: ordinary bins and
// fastbins) is the oracle. A sampled block placed by memalign split
// fragments off its chunk and left them free in the arena (hundreds more
// free chunks than the unsampled run); one behind a prefix is carved like any
// other block, and the arena keeps the unsampled run's free chunks.
struct ArenaShape {
  std::size_t free_chunks = 0;
  std::size_t samples = 0;
};

ArenaShape arena_shape_after_allocating(bool sample) {
  if (sample) {
    HeapProfiler::set_sample_rate(4096);
    HeapProfiler::start();
  }
  std::vector<void*> blocks(2000);
  for (void*& p : blocks) p = escape(std::malloc(1500));
  const struct mallinfo2 mi = mallinfo2();
  ArenaShape shape{mi.ordblks + mi.smblks, 0};
  if (sample) shape.samples = internal::SampledHeap::instance().live_count();
  for (void* p : blocks) std::free(p);
  return shape;
}

TEST_F(HeapProfilerTest, Sampling_LeavesNoFragmentsInTheArena) {
  auto* shapes = static_cast<ArenaShape*>(
      mmap(nullptr, 2 * sizeof(ArenaShape), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(shapes, MAP_FAILED);
  for (int i = 0; i < 2; ++i) {
    const auto out = test_support::run_in_child(
        [&] {
          shapes[i] = arena_shape_after_allocating(i == 1);
          return 0;
        },
        std::chrono::seconds(60));
    ASSERT_TRUE(out.exited_with(0)) << out.describe();
  }
  const ArenaShape& without = shapes[0];
  const ArenaShape& with = shapes[1];
  // Samples happened: about 2000 * 1500 / 4096 of the blocks.
  EXPECT_GT(with.samples, 300u);
  // A few chunks may differ (a block 16 bytes larger fits another free chunk).
  EXPECT_LE(with.free_chunks, without.free_chunks + 16)
      << "free chunks: " << with.free_chunks << " sampling, " << without.free_chunks << " not";
  munmap(shapes, 2 * sizeof(ArenaShape));
}

}  // namespace
}  // namespace syncscope::prof
