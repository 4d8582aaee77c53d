// capture_stack's unwinders (issue 16, items 1 and 4): a thread's first
// captures must not cost libunwind's 256 KiB per-thread trace cache, and the
// frames must not depend on which unwinder took them.
#include <gtest/gtest.h>
#include <pthread.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "syncscope/prof/stack_trace.h"

namespace syncscope::prof {
namespace {

// VmRSS of /proc/self/status, in KiB; -1 when absent.
long resident_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.compare(0, 6, "VmRSS:") == 0) return std::stol(line.substr(6));
  }
  return -1;
}

struct Frames {
  std::uintptr_t pcs[kMaxStackDepth];
  int depth = 0;
  std::vector<std::uintptr_t> list() const { return {pcs, pcs + depth}; }
};

__attribute__((noinline)) void capture_here(Frames* out) {
  out->depth = capture_stack(out->pcs, kMaxStackDepth, 0);
  asm volatile("" ::: "memory");  // keep the call out of tail position
}

__attribute__((noinline)) void capture_nested(Frames* out, int levels) {
  if (levels == 0) {
    capture_here(out);
  } else {
    capture_nested(out, levels - 1);
  }
  asm volatile("" ::: "memory");
}

TEST(StackCapture, SixteenThreadsOneCaptureEach_ResidentGrowsByFarLessThanATraceCacheEach) {
  constexpr int kThreads = 16;
  constexpr long kTraceCacheKib = 256;  // libunwind's per-thread cache
  pthread_barrier_t started;
  pthread_barrier_t captured;
  pthread_barrier_t measured;
  pthread_barrier_init(&started, nullptr, kThreads + 1);
  pthread_barrier_init(&captured, nullptr, kThreads + 1);
  pthread_barrier_init(&measured, nullptr, kThreads + 1);
  std::vector<Frames> frames(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      pthread_barrier_wait(&started);
      capture_nested(&frames[i], 8);
      pthread_barrier_wait(&captured);
      pthread_barrier_wait(&measured);  // alive (and holding any cache) until measured
    });
  }
  pthread_barrier_wait(&started);  // every thread exists and has run
  const long before = resident_kib();
  pthread_barrier_wait(&captured);  // every thread has captured once
  const long after = resident_kib();
  pthread_barrier_wait(&measured);
  for (std::thread& t : threads) t.join();
  pthread_barrier_destroy(&started);
  pthread_barrier_destroy(&captured);
  pthread_barrier_destroy(&measured);
  ASSERT_GT(before, 0);
  for (const Frames& f : frames) ASSERT_GE(f.depth, 10) << "a capture stopped early";
  RecordProperty("resident_growth_kib", static_cast<int>(after - before));
  // With the trace cache: 16 x 256 KiB = 4 MiB.
  EXPECT_LT(after - before, kThreads * kTraceCacheKib / 4)
      << "16 first captures grew RSS by " << after - before << " KiB";
}

TEST(StackCapture, ManyCapturesAtOneSite_AllGiveTheSameFrames) {
  // Enough captures from one fresh thread that the later ones come from the
  // cached unwinder whatever the switch-over count; every one must equal
  // the first (the same call instruction each time).
  constexpr int kCaptures = 2000;
  std::thread([] {
    std::vector<Frames> all(kCaptures);
    for (Frames& f : all) capture_nested(&f, 8);  // one call site for every capture
    ASSERT_GE(all[0].depth, 10);
    for (int i = 1; i < kCaptures; ++i) ASSERT_EQ(all[i].list(), all[0].list()) << "capture " << i;
  }).join();
}

}  // namespace
}  // namespace syncscope::prof
