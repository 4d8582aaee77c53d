// The shape walk (src/prof/shape_unwind) against libunwind's walk as the
// oracle: the same frames from the same place, through code of every shape
// this compiler and Debian's libraries produce (frame pointer or not,
// realigned and alloca'd frames, libc, libstdc++, a thread's outermost
// frame). Then what it is for: a stack walked a second time reads nothing
// more, and no walk maps a page of a module's .eh_frame into the process.
#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libunwind.h>
#include <link.h>
#include <unistd.h>

#include <alloca.h>
#include <array>
#include <utility>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <mutex>
#include <thread>
#include <vector>

#include "prof/shape_unwind/frame_shape.h"
#include "prof/shape_unwind/shape_cache.h"
#include "prof/shape_unwind/shape_walk.h"
#include "prof/fixtures/hop_functions.h"
#include "support/forked_child.h"
#include "support/refused_frame.h"

namespace syncscope::prof::internal {
namespace {

constexpr int kMaxFrames = 128;
// Keys hold a module slot above bit 48 (shape_walk.cc).
constexpr int kPcBitsForTest = 48;

// The two walks from one function: ours and libunwind's.
struct BothWalks {
  std::vector<std::uintptr_t> shapes;
  std::vector<std::uintptr_t> oracle;
  int shape_result = 0;
};

// False: walk_both takes only the shape walk.
bool g_oracle_walks = true;

__attribute__((noinline)) void walk_both(BothWalks* out) {
  std::uintptr_t pcs[kMaxFrames];
  out->shape_result = walk_frame_shapes(pcs, kMaxFrames);
  if (out->shape_result > 0) out->shapes.assign(pcs, pcs + out->shape_result);
  if (!g_oracle_walks) return;
  // libunwind stepping from a snapshot (not unw_backtrace, whose per-thread
  // cache's destructor crashes a thread exiting under TSan).
  unw_context_t context;
  unw_cursor_t cursor;
  if (unw_getcontext(&context) != 0 || unw_init_local(&cursor, &context) != 0) return;
  while (out->oracle.size() < kMaxFrames) {
    unw_word_t ip = 0;
    if (unw_get_reg(&cursor, UNW_REG_IP, &ip) != 0 || ip == 0) break;
    out->oracle.push_back(static_cast<std::uintptr_t>(ip));
    if (unw_step(&cursor) <= 0) break;
  }
  asm volatile("" ::: "memory");  // keep the calls out of tail position
}

// Frame 0 is each walk's own return address in walk_both (two call
// sites); every frame after it must be the same, to the end of the stack.
void expect_same_frames(const BothWalks& w) {
  ASSERT_GT(w.shape_result, 0) << "the shape walk refused";
  ASSERT_EQ(w.shapes.size(), w.oracle.size());
  for (std::size_t i = 1; i < w.shapes.size(); ++i) {
    EXPECT_EQ(w.shapes[i], w.oracle[i]) << "frame " << i << " of " << w.shapes.size();
  }
}

// Frames of different shapes, called in a chain.
__attribute__((noinline, optimize("no-omit-frame-pointer"))) void with_frame_pointer(BothWalks* out, int depth);
__attribute__((noinline)) void with_alloca(BothWalks* out, int depth);
__attribute__((noinline)) void with_saved_registers(BothWalks* out, int depth);

__attribute__((noinline)) void next(BothWalks* out, int depth) {
  switch (depth % 3) {
    case 0: with_frame_pointer(out, depth - 1); break;
    case 1: with_alloca(out, depth - 1); break;
    default: with_saved_registers(out, depth - 1); break;
  }
  asm volatile("" ::: "memory");
}

void with_frame_pointer(BothWalks* out, int depth) {
  if (depth <= 0) return walk_both(out);
  volatile char pad[40] = {};
  next(out, depth);
  asm volatile("" : : "r"(pad) : "memory");
}

void with_alloca(BothWalks* out, int depth) {
  if (depth <= 0) return walk_both(out);
  // A variable-sized frame: its CFA is given from rbp.
  auto* room = static_cast<volatile char*>(alloca(static_cast<std::size_t>(16 + depth * 8)));
  room[0] = 1;
  next(out, depth);
  asm volatile("" : : "r"(room) : "memory");
}

void with_saved_registers(BothWalks* out, int depth) {
  if (depth <= 0) return walk_both(out);
  // Values live across the call: callee-saved registers pushed in the prologue.
  volatile long a = depth, b = depth * 2, c = depth * 3, d = depth * 5;
  long x = a, y = b, z = c, w = d;
  next(out, depth);
  asm volatile("" : : "r"(x), "r"(y), "r"(z), "r"(w) : "memory");
}

TEST(ShapeWalk, FramesOfEveryShape_MatchLibunwind) {
  for (int depth : {1, 2, 3, 7, 20, 60}) {
    BothWalks w;
    next(&w, depth);
    SCOPED_TRACE(depth);
    expect_same_frames(w);
    EXPECT_GT(w.shapes.size(), static_cast<std::size_t>(depth));
  }
}

TEST(ShapeWalk, ThroughLibcAndLibstdcxx_MatchesLibunwind) {
  // qsort calls the comparator from inside libc; std::call_once goes
  // through libstdc++ and libc's pthread_once.
  static BothWalks from_qsort;
  int values[] = {3, 1, 2};
  qsort(values, 3, sizeof(int), [](const void* a, const void* b) {
    if (from_qsort.oracle.empty()) walk_both(&from_qsort);
    return *static_cast<const int*>(a) - *static_cast<const int*>(b);
  });
  expect_same_frames(from_qsort);

  BothWalks from_once;
  std::once_flag once;
  std::call_once(once, [&] { walk_both(&from_once); });
  expect_same_frames(from_once);
  // std::function's invoker and the lambda's body are frames too.
  BothWalks from_function;
  std::function<void()> call = [&] { walk_both(&from_function); };
  call();
  expect_same_frames(from_function);
}

TEST(ShapeWalk, ThreadStack_EndsWhereLibunwindEnds) {
  BothWalks w;
  std::thread([&] { next(&w, 5); }).join();
  expect_same_frames(w);
}

TEST(ShapeWalk, RealignedFrame_IsRefusedNotGuessed) {
  BothWalks w;
  // A frame whose CFA is a DWARF expression: the shape walk refuses there,
  // as documented, rather than guess.
  test_support::call_below_refused_frame([](void* out) { walk_both(static_cast<BothWalks*>(out)); }, &w);
  EXPECT_EQ(w.shape_result, -1);
  EXPECT_FALSE(w.oracle.empty());
}

TEST(ShapeWalk, FramesCapped_AtMaxFrames) {
  BothWalks w;
  next(&w, 30);
  std::uintptr_t pcs[5];
  const int n = walk_frame_shapes(pcs, 5);
  EXPECT_EQ(n, 5);
  EXPECT_EQ(walk_frame_shapes(pcs, 0), 0);
  EXPECT_EQ(walk_frame_shapes(nullptr, 5), 0);
}

// A stack walked a second time is described from the table alone: the
// same call site twice (a loop the compiler cannot unroll), so the same
// return addresses.
TEST(ShapeWalk, SecondWalkOfAStack_ReadsNoFile) {
  BothWalks walks[2];
  ShapeWalkStats stats[2];
  volatile int count = 2;
  for (int i = 0; i < count; ++i) {
    next(&walks[i], 12);
    stats[i] = shape_walk_stats();
  }
  ASSERT_GT(walks[0].shape_result, 0);
  EXPECT_EQ(walks[1].shapes, walks[0].shapes);
  EXPECT_GT(stats[0].described_frames, 0u);
  EXPECT_EQ(stats[1].described_frames, stats[0].described_frames);
  EXPECT_GE(stats[1].registered_modules, 2u);  // this program and libc at least
}

// A walk after `hops` hops through the many small functions of
// hop_functions.h (each with an FDE of its own, scattered over an .eh_frame
// far larger than the kernel's fault-around window), starting from the one
// picked by `seed`.
void walk_after_hops(BothWalks* out, int hops, std::uint32_t seed) {
  test_support::HopChain chain{[](void* o) { walk_both(static_cast<BothWalks*>(o)); }, out, hops, seed};
  test_support::run_hop_chain(chain);
}

// A module unloaded and another loaded at its address, with code of other
// shapes at the same offsets: the second module's frames are described
// afresh, never from the first one's cached shapes. Here the loader's view
// of the two is identical (range, .eh_frame_hdr address, even the reused
// link_map): only the build ID tells them apart. Without that check the
// second walk followed the first module's shapes and stopped after 2
// frames, against libunwind's 21.
TEST(ShapeWalk, ModuleReplacedAtTheSameAddress_IsDescribedAfresh) {
  using Descend = void (*)(void (*)(void*), void*, int);
  const auto walk_through = [](const char* path, std::uintptr_t* base, BothWalks* out) {
    void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle, nullptr) << dlerror();
    auto descend = reinterpret_cast<Descend>(dlsym(handle, "shape_walk_descend"));
    ASSERT_NE(descend, nullptr);
    Dl_info info{};
    ASSERT_NE(dladdr(reinterpret_cast<void*>(descend), &info), 0);
    *base = reinterpret_cast<std::uintptr_t>(info.dli_fbase);
    descend([](void* arg) { walk_both(static_cast<BothWalks*>(arg)); }, out, 6);
    ASSERT_EQ(dlclose(handle), 0);
    ASSERT_EQ(dlopen(path, RTLD_NOW | RTLD_NOLOAD), nullptr) << "still loaded";
  };
  std::uintptr_t base_a = 0, base_b = 0;
  BothWalks a, b;
  walk_through(SHAPE_WALK_MODULE_A, &base_a, &a);
  expect_same_frames(a);
  const ShapeWalkStats after_a = shape_walk_stats();
  walk_through(SHAPE_WALK_MODULE_B, &base_b, &b);
  expect_same_frames(b);
  // The case this test is for; Linux hands the freed range out again.
  ASSERT_EQ(base_b, base_a) << "the second module did not load where the first was";
  // The same return addresses in both, in frames of different sizes.
  ASSERT_GE(a.shapes.size(), 8u);
  EXPECT_EQ(a.shapes[2], b.shapes[2]);
  EXPECT_GT(shape_walk_stats().described_frames, after_a.described_frames);
}

// Return addresses come in arithmetic progressions (copies of one function
// at a fixed size apart): keys of steps from 1 to 1,024 bytes, and the
// function sizes seen in this program's ASan build (421 bytes: there
// multiplicative hashing alone left 26 of 1,294 keys without a slot), all
// find a slot within the probe limit at a quarter load.
TEST(ShapeCache, EvenlySpacedKeys_AllFitAtAQuarterLoad) {
  std::vector<std::uint64_t> steps = {421, 842, 336, 208, 80, 48};
  for (std::uint64_t step = 1; step <= 1024; step = step * 3 / 2 + 1) steps.push_back(step);
  for (const std::uint64_t step : steps) {
    ShapeCache cache;  // maps its own slots (never unmapped: a test's 128 KiB)
    const std::uint64_t base = (std::uint64_t{7} << kPcBitsForTest) + 0x5555'0000'1000ull;
    int failed = 0;
    for (std::uint64_t i = 0; i < kShapeSlots / 4; ++i) failed += cache.insert(base + i * step, 1 | (i << 8)) ? 0 : 1;
    EXPECT_EQ(failed, 0) << "step " << step;
    for (std::uint64_t i = 0; i < kShapeSlots / 4; i += 97) {
      EXPECT_EQ(cache.find(base + i * step), 1 | (i << 8)) << "step " << step << ", key " << i;
    }
    EXPECT_EQ(cache.find(base + kShapeSlots * step * 4), 0u);
  }
}

// Stacks through many different functions, read from this program's file
// for the first time: every frame as libunwind finds it.
TEST(ShapeWalk, StacksThroughManyFunctions_MatchLibunwind) {
  const ShapeWalkStats before = shape_walk_stats();
  for (std::uint32_t seed = 1; seed <= 64; ++seed) {
    BothWalks w;
    walk_after_hops(&w, 30, seed);
    SCOPED_TRACE(seed);
    expect_same_frames(w);
  }
  // Most of the 64 * 30 hops were to functions not seen before.
  EXPECT_GT(shape_walk_stats().described_frames - before.described_frames, 1000u);
}

// Not under the sanitizers: their runtimes unwind on their own (ASan's
// allocator records a stack for every allocation) and would map the pages
// this test counts.
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
// Pages of this program's .eh_frame and .eh_frame_hdr mapped into the
// process (present in its page table, /proc/self/pagemap bit 63).
int eh_frame_pages_present() {
  struct Range {
    std::uintptr_t start = 0, end = 0;
  };
  Range ranges[2];
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* arg) {
        auto* r = static_cast<Range*>(arg);
        if (info->dlpi_name[0] != '\0') return 0;  // the main program only
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& p = info->dlpi_phdr[i];
          if (p.p_type == PT_GNU_EH_FRAME) r[0] = {info->dlpi_addr + p.p_vaddr, info->dlpi_addr + p.p_vaddr + p.p_memsz};
        }
        // .eh_frame: from the end of .eh_frame_hdr to the end of its segment.
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& p = info->dlpi_phdr[i];
          const std::uintptr_t lo = info->dlpi_addr + p.p_vaddr;
          if (p.p_type == PT_LOAD && r[0].start >= lo && r[0].start < lo + p.p_memsz) {
            r[1] = {r[0].end, lo + p.p_memsz};
          }
        }
        return 1;
      },
      ranges);
  const int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  const long page = sysconf(_SC_PAGESIZE);
  int present = 0;
  for (const Range& r : ranges) {
    for (std::uintptr_t p = r.start & ~(page - 1); p < r.end; p += page) {
      std::uint64_t entry = 0;
      if (pread(fd, &entry, 8, static_cast<off_t>(p / page * 8)) != 8) {
        close(fd);
        return -1;
      }
      present += static_cast<int>(entry >> 63);
    }
  }
  close(fd);
  return present;
}

// The point of the walk: it maps none of the tables' pages, where
// libunwind's walk of the same stack does (so the check can see the
// difference). In a fresh child: a fork child starts with none of the
// parent's file pages mapped. Exit codes: 10 pagemap unreadable, 11 the
// shape walk refused, 12 it mapped pages, 13 libunwind's walk mapped none
// (the check would be blind), 14 the two walks differ.
TEST(ShapeWalk, Walking_MapsNoUnwindTablePages) {
  const auto outcome = test_support::run_in_child(
      [] {
        const int before = eh_frame_pages_present();
        if (before < 0) return 10;
        g_oracle_walks = false;
        BothWalks shapes_only;
        walk_after_hops(&shapes_only, 40, 1);
        if (shapes_only.shape_result <= 0) return 11;
        const int after_shapes = eh_frame_pages_present();
        if (after_shapes != before) return 12;
        g_oracle_walks = true;
        BothWalks with_oracle;
        walk_after_hops(&with_oracle, 40, 1);  // the same functions, the same stack
        expect_same_frames(with_oracle);
        const int after_oracle = eh_frame_pages_present();
        if (::testing::Test::HasFailure()) return 14;
        if (after_oracle <= after_shapes) {
          std::fprintf(stderr, "pages present: %d before, %d after the shape walk, %d after libunwind's\n",
                       before, after_shapes, after_oracle);
          return 13;
        }
        return 0;
      },
      std::chrono::seconds(30));
  EXPECT_TRUE(outcome.exited_with(0)) << outcome.describe();
}

#endif  // no sanitizer

}  // namespace
}  // namespace syncscope::prof::internal
