// The glibc heap walk's parsing on synthetic heaps: a fake libc data segment
// holding a main_arena, a fake break heap and anonymous mappings, laid out
// by hand at made-up addresses behind a MemoryImage. No real allocator is
// involved, so these run under ASan+UBSan too, and every corruption case can
// be built exactly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "retain/glibc_heap_walker.h"
#include "retain/memory_image.h"

namespace syncscope::retain::internal {
namespace {

constexpr const GlibcLayout& L = kGlibc236;
constexpr std::uintptr_t kLibc = 0x7000'0000;   // fake libc .data
constexpr std::uintptr_t kArena = kLibc + 0x100;
constexpr std::uintptr_t kHeap = 0x1000'0000;   // fake break heap
constexpr std::size_t kHeapBytes = 0x10000;
constexpr std::uintptr_t kAnon = 0x3000'0000;   // fake anonymous mapping (mmapped chunks)
constexpr std::uint64_t P = 1, M = 2;           // PREV_INUSE, IS_MMAPPED

// Regions backed by vectors at fake addresses.
class SyntheticImage final : public MemoryImage {
 public:
  void add(std::uintptr_t start, std::size_t bytes, bool anonymous, bool brk) {
    Mapping m;
    m.start = start;
    m.end = start + bytes;
    m.readable = m.writable = true;
    m.anonymous = anonymous;
    m.brk_heap = brk;
    maps_.push_back(m);
    std::sort(maps_.begin(), maps_.end(), [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
    memory_[start].assign(bytes, std::byte{0});
  }
  void put(std::uintptr_t addr, std::uint64_t value) {
    std::byte* p = at(addr, 8);
    ASSERT_NE(p, nullptr) << std::hex << addr;
    std::memcpy(p, &value, 8);
  }
  void put32(std::uintptr_t addr, std::uint32_t value) { std::memcpy(at(addr, 4), &value, 4); }

  std::span<const Mapping> regions() const noexcept override { return maps_; }
  const std::byte* view(std::uintptr_t addr, std::size_t len) const noexcept override {
    return const_cast<SyntheticImage*>(this)->at(addr, len);
  }
  bool resident(std::uintptr_t, std::size_t len, unsigned char* out) const noexcept override {
    std::memset(out, 1, (len + 4095) / 4096);
    return true;
  }

 private:
  std::byte* at(std::uintptr_t addr, std::size_t len) {
    auto it = memory_.upper_bound(addr);
    if (it == memory_.begin()) return nullptr;
    --it;
    if (addr - it->first + len > it->second.size()) return nullptr;
    return it->second.data() + (addr - it->first);
  }
  std::vector<Mapping> maps_;
  std::map<std::uintptr_t, std::vector<std::byte>> memory_;
};

// The chunks of the synthetic break heap, in order.
constexpr std::uintptr_t kTcacheStruct = kHeap;               // 0x290, in use (glibc's own)
constexpr std::uintptr_t kA = kTcacheStruct + 0x290;          // 0x30 in use
constexpr std::uintptr_t kB = kA + 0x30;                      // 0x40 in use
constexpr std::uintptr_t kCached = kB + 0x40;                 // 0x20 in a tcache
constexpr std::uintptr_t kC = kCached + 0x20;                 // 0x50 in use
constexpr std::uintptr_t kFast = kC + 0x50;                   // 0x30 on fastbin 1
constexpr std::uintptr_t kFree = kFast + 0x30;                // 0x100 free, in the unsorted bin
constexpr std::uintptr_t kD = kFree + 0x100;                  // 0x40 in use (PREV_INUSE clear)
constexpr std::uintptr_t kTop = kD + 0x40;

struct Fixture {
  SyntheticImage image;
  std::vector<Range> search{{kLibc, kLibc + 0x2000}};

  Fixture() {
    image.add(kLibc, 0x2000, false, false);
    image.add(kHeap, kHeapBytes, true, true);
    // main_arena: every bin empty (points at its own header) but the
    // unsorted bin, which holds kFree.
    for (std::size_t i = 0; i < L.bin_words / 2; ++i) {
      const std::uintptr_t header = kArena + L.arena_bins + 16 * i - 16;
      image.put(kArena + L.arena_bins + 16 * i, i == 0 ? kFree : header);
      image.put(kArena + L.arena_bins + 16 * i + 8, i == 0 ? kFree : header);
    }
    image.put(kArena + L.arena_top, kTop);
    image.put(kArena + L.arena_next, kArena);
    image.put(kArena + L.arena_system_mem, kHeapBytes);
    image.put(kArena + L.arena_fastbins + 8 * 1, kFast);  // fastbin 1: 0x30 chunks
    // chunks
    chunk(kTcacheStruct, 0x290, true);
    chunk(kA, 0x30, true);
    chunk(kB, 0x40, true);
    chunk(kCached, 0x20, true);
    chunk(kC, 0x50, true);
    chunk(kFast, 0x30, true);
    chunk(kFree, 0x100, true);
    chunk(kD, 0x40, false);  // its predecessor kFree is free
    image.put(kD, 0x100);    // kFree's footer
    chunk(kTop, kHeap + kHeapBytes - kTop, true);
    // kFree's links into the unsorted bin header
    image.put(kFree + 16, kArena + L.arena_bins - 16);
    image.put(kFree + 24, kArena + L.arena_bins - 16);
    // fastbin entry: safe-linked NULL
    image.put(kFast + 16, ((kFast + 16) >> 12) ^ 0);
    // tcache: bin 0 (0x20 chunks) holds kCached
    const std::uintptr_t t = kTcacheStruct + 16;
    std::uint16_t one = 1;
    std::memcpy(const_cast<std::byte*>(image.view(t, 2)), &one, 2);
    image.put(t + L.tcache_entries, kCached + 16);
    image.put(kCached + 16, ((kCached + 16) >> 12) ^ 0);  // next: NULL
    image.put(kCached + 24, 0xfeedfacecafebeefull);        // the process' tcache key
  }
  void chunk(std::uintptr_t at, std::uint64_t size, bool prev_in_use) { image.put(at + 8, size | (prev_in_use ? P : 0)); }

  HeapWalkResult walk(std::vector<GraphBlock>& blocks) {
    GlibcHeapWalker walker;
    MmapBuffer<GraphBlock> out;
    HeapWalkResult r = walker.walk(image, search, {}, out);
    blocks.assign(out.begin(), out.end());
    return r;
  }
};

std::vector<std::uintptr_t> addresses(const std::vector<GraphBlock>& blocks) {
  std::vector<std::uintptr_t> out;
  for (const GraphBlock& b : blocks) out.push_back(b.address);
  return out;
}

TEST(GlibcHeapWalkSynthetic, InUseChunksOnly_FreeFastbinAndTcacheChunksLeftOut) {
  Fixture f;
  std::vector<GraphBlock> blocks;
  const HeapWalkResult r = f.walk(blocks);
  ASSERT_EQ(r.status, WalkStatus::kOk) << r.message;
  EXPECT_EQ(addresses(blocks), (std::vector<std::uintptr_t>{kA + 16, kB + 16, kC + 16, kD + 16}));
  ASSERT_EQ(blocks.size(), 4u);
  EXPECT_EQ(blocks[0].size, 0x30u - 8);  // usable size: chunk - 8
  EXPECT_EQ(blocks[3].size, 0x40u - 8);
  EXPECT_EQ(r.stats.fastbin_chunks, 1u);
  EXPECT_EQ(r.stats.tcache_chunks, 1u);
  EXPECT_TRUE(r.stats.tcache_key_known);
  EXPECT_EQ(r.stats.arenas, 1u);
}

TEST(GlibcHeapWalkSynthetic, CorruptSize_NotRecognisedWithWhere) {
  Fixture f;
  f.image.put(kB + 8, 0x12345);
  std::vector<GraphBlock> blocks;
  const HeapWalkResult r = f.walk(blocks);
  EXPECT_EQ(r.status, WalkStatus::kNotRecognised);
  EXPECT_NE(std::string(r.message).find("heap layout not recognised"), std::string::npos) << r.message;
  EXPECT_NE(std::string(r.message).find("heap+0x2c0"), std::string::npos) << r.message;
  EXPECT_TRUE(blocks.empty());
}

TEST(GlibcHeapWalkSynthetic, FreeChunkFooterDisagrees_NotRecognised) {
  Fixture f;
  f.image.put(kD, 0xf0);
  std::vector<GraphBlock> blocks;
  const HeapWalkResult r = f.walk(blocks);
  EXPECT_EQ(r.status, WalkStatus::kNotRecognised);
  EXPECT_NE(std::string(r.message).find("footer"), std::string::npos) << r.message;
}

TEST(GlibcHeapWalkSynthetic, ChunkRunningPastTheHeap_NotRecognisedNeverReadOutside) {
  Fixture f;
  f.image.put(kC + 8, 0x100000 | P);
  std::vector<GraphBlock> blocks;
  EXPECT_EQ(f.walk(blocks).status, WalkStatus::kNotRecognised);
}

TEST(GlibcHeapWalkSynthetic, LockedArena_Busy) {
  Fixture f;
  f.image.put32(kArena + L.arena_mutex, 1);
  std::vector<GraphBlock> blocks;
  const HeapWalkResult r = f.walk(blocks);
  EXPECT_EQ(r.status, WalkStatus::kBusy) << r.message;
  EXPECT_TRUE(blocks.empty());
}

TEST(GlibcHeapWalkSynthetic, FastbinEntryOfTheWrongSize_NotRecognised) {
  Fixture f;
  f.image.put(kArena + L.arena_fastbins + 8 * 1, kC);  // a 0x50 chunk on the 0x30 list
  std::vector<GraphBlock> blocks;
  const HeapWalkResult r = f.walk(blocks);
  EXPECT_EQ(r.status, WalkStatus::kNotRecognised);
  EXPECT_NE(std::string(r.message).find("fastbin 1"), std::string::npos) << r.message;
}

TEST(GlibcHeapWalkSynthetic, FastbinLoop_StopsAndReports) {
  Fixture f;
  f.image.put(kFast + 16, ((kFast + 16) >> 12) ^ kFast);  // points at itself
  std::vector<GraphBlock> blocks;
  EXPECT_EQ(f.walk(blocks).status, WalkStatus::kNotRecognised);
}

TEST(GlibcHeapWalkSynthetic, NoArenaInTheSearchedRange_NotRecognised) {
  Fixture f;
  f.search = {{kLibc + 0x1000, kLibc + 0x2000}};
  std::vector<GraphBlock> blocks;
  const HeapWalkResult r = f.walk(blocks);
  EXPECT_EQ(r.status, WalkStatus::kNotRecognised);
  EXPECT_NE(std::string(r.message).find("main arena"), std::string::npos) << r.message;
}

TEST(GlibcHeapWalkSynthetic, InconsistentTcacheCount_ItsChunksStayBlocks) {
  Fixture f;
  std::uint16_t five = 5;  // claims 5 entries, the chain has 1: not a tcache
  std::memcpy(const_cast<std::byte*>(f.image.view(kTcacheStruct + 16, 2)), &five, 2);
  std::vector<GraphBlock> blocks;
  const HeapWalkResult r = f.walk(blocks);
  ASSERT_EQ(r.status, WalkStatus::kOk) << r.message;
  EXPECT_EQ(r.stats.tcache_chunks, 0u);
  EXPECT_EQ(blocks.size(), 6u) << "the unvalidated struct and its entry are reported, never guessed away";
}

TEST(GlibcHeapWalkSynthetic, MmappedChunks_PlainAndMemalignedFoundAtPageStarts) {
  Fixture f;
  const std::size_t page = static_cast<std::size_t>(::getpagesize());
  f.image.add(kAnon, 8 * page, true, false);
  f.image.put(kAnon + 8, (2 * page) | M);  // plain: prev_size 0, two pages
  // memalign'd (64 KiB alignment would need more room; 1 KiB here): the
  // outer header stays, the aligned chunk sits after a zero lead.
  const std::uintptr_t outer = kAnon + 2 * page;
  const std::uintptr_t lead = 1024 - 16;
  f.image.put(outer + 8, (3 * page) | M);
  f.image.put(outer + lead, lead);
  f.image.put(outer + lead + 8, (3 * page - lead) | M);
  std::vector<GraphBlock> blocks;
  const HeapWalkResult r = f.walk(blocks);
  ASSERT_EQ(r.status, WalkStatus::kOk) << r.message;
  EXPECT_EQ(r.stats.mmapped_chunks, 2u);
  const auto a = addresses(blocks);
  EXPECT_NE(std::find(a.begin(), a.end(), kAnon + 16), a.end());
  EXPECT_NE(std::find(a.begin(), a.end(), outer + lead + 16), a.end());
  EXPECT_EQ(std::find(a.begin(), a.end(), outer + 16), a.end()) << "the outer header is not a block";
}

// A second arena with two heaps, as glibc leaves them when the arena's
// first heap is full and its top chunk was 48 bytes (sysmalloc): the old
// top becomes one 32-byte chunk without the arena bit, then the zero-size
// fencepost in the heap's last 16 bytes. The new heap holds the top.
TEST(GlibcHeapWalkSynthetic, OldHeapEndingInASmallTopRemnant_WalkedAndNotABlock) {
  Fixture f;
  constexpr std::uint64_t A = 4;  // NON_MAIN_ARENA
  constexpr std::uintptr_t kOld = 0x4000'0000, kNew = 0x4400'0000;  // aligned to heap_max
  constexpr std::size_t kOldBytes = 0x2000, kNewBytes = 0x1000;
  f.image.add(kOld, kOldBytes, true, false);
  f.image.add(kNew, kNewBytes, true, false);
  const std::uintptr_t arena = kOld + L.heap_info_size;
  // The arena list: main_arena -> arena -> main_arena; every bin empty.
  f.image.put(kArena + L.arena_next, arena);
  f.image.put(arena + L.arena_next, kArena);
  for (std::size_t i = 0; i < L.bin_words / 2; ++i) {
    const std::uintptr_t header = arena + L.arena_bins + 16 * i - 16;
    f.image.put(arena + L.arena_bins + 16 * i, header);
    f.image.put(arena + L.arena_bins + 16 * i + 8, header);
  }
  f.image.put(arena + L.arena_system_mem, kOldBytes + kNewBytes);
  // heap_info of both heaps: owner, previous heap, size.
  f.image.put(kOld + L.heap_ar_ptr, arena);
  f.image.put(kOld + L.heap_size, kOldBytes);
  f.image.put(kNew + L.heap_ar_ptr, arena);
  f.image.put(kNew + L.heap_prev, kOld);
  f.image.put(kNew + L.heap_size, kNewBytes);
  // The old heap: one block, then the remnant and the fencepost at its end.
  std::uintptr_t first = arena + L.arena_size;
  if (const std::uintptr_t mis = (first + 16) & 15; mis != 0) first += 16 - mis;
  const std::uintptr_t remnant = kOld + kOldBytes - 48;
  f.chunk(first, (remnant - first) | A, true);
  f.image.put(remnant + 8, 0x20 | P);
  f.image.put(remnant + 32 + 8, 0 | P);
  // The new heap: one block, then the top.
  const std::uintptr_t block = kNew + L.heap_info_size, top = block + 0x40;
  f.chunk(block, 0x40 | A, true);
  f.chunk(top, (kNew + kNewBytes - top) | A, true);
  f.image.put(arena + L.arena_top, top);
  std::vector<GraphBlock> blocks;
  const HeapWalkResult r = f.walk(blocks);
  ASSERT_EQ(r.status, WalkStatus::kOk) << r.message;
  EXPECT_EQ(r.stats.arenas, 2u);
  const auto a = addresses(blocks);
  EXPECT_NE(std::find(a.begin(), a.end(), first + 16), a.end()) << "the old heap's block";
  EXPECT_NE(std::find(a.begin(), a.end(), block + 16), a.end()) << "the new heap's block";
  EXPECT_EQ(std::find(a.begin(), a.end(), remnant + 16), a.end()) << "the remnant is not a block";
}

}  // namespace
}  // namespace syncscope::retain::internal
