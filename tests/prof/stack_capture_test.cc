// capture_stack: many captures from one site give the same frames whichever
// walk took them (the shape walk; or, below a frame it refuses, stepping for
// a thread's first captures and unw_backtrace's per-thread cache later), and
// no more than kFastUnwindPlaces threads at a time hold that cache (issue
// 16, item 4).
#include <gtest/gtest.h>
#include <pthread.h>

#include <cstdint>
#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "prof/fast_unwind_places.h"
#include "syncscope/prof/stack_trace.h"
#include "support/forked_child.h"
#include "support/refused_frame.h"

namespace syncscope::prof {
namespace {

struct Frames {
  std::uintptr_t pcs[kMaxStackDepth];
  int depth = 0;
  std::vector<std::uintptr_t> list() const { return {pcs, pcs + depth}; }
};

__attribute__((noinline)) void capture_here(Frames* out) {
  out->depth = capture_stack(out->pcs, kMaxStackDepth, 0);
  asm volatile("" ::: "memory");  // keep the call out of tail position
}

enum class Walk { kShapes, kFallback };

__attribute__((noinline)) void capture_nested(Frames* out, int levels, Walk walk = Walk::kFallback) {
  if (levels == 0) {
    if (walk == Walk::kShapes) {
      capture_here(out);
    } else {
      // Below a frame the shape walk refuses: capture_stack's other walks,
      // libunwind's cache for threads with a place.
      test_support::call_below_refused_frame([](void* f) { capture_here(static_cast<Frames*>(f)); }, out);
    }
  } else {
    capture_nested(out, levels - 1, walk);
  }
  asm volatile("" ::: "memory");
}

TEST(StackCapture, ManyCapturesAtOneSite_AllGiveTheSameFrames) {
  // Enough captures from one fresh thread that the later ones come from the
  // cached unwinder whatever the switch-over count; every one must equal
  // the first (the same call instruction each time).
  constexpr int kCaptures = 2000;
  std::thread([] {
    for (const Walk walk : {Walk::kShapes, Walk::kFallback}) {
      std::vector<Frames> all(kCaptures);
      for (Frames& f : all) capture_nested(&f, 8, walk);  // one call site for every capture
      ASSERT_GE(all[0].depth, 10);
      for (int i = 1; i < kCaptures; ++i) ASSERT_EQ(all[i].list(), all[0].list()) << "capture " << i;
    }
  }).join();
}

// Many threads that keep capturing, all alive at once: never more than
// kFastUnwindPlaces of them hold a place, the places are all taken (the
// first threads past the threshold get them), and every place comes back
// when its thread exits. The captures are taken below a frame the shape walk
// refuses: places are for the walks it hands on. (Not built with the sanitizers, like the other
// tests from here on in tests/prof; under TSan every capture steps.)
TEST(StackCapture, ThreadsThatKeepCapturing_HoldAtMostTheFastUnwindPlaces) {
  constexpr int kThreads = 3 * internal::kFastUnwindPlaces;
  constexpr int kCaptures = 2 * static_cast<int>(internal::kCapturesBeforeFastUnwind) + 8;
  ASSERT_EQ(internal::fast_unwind_places_taken(), 0);
  pthread_barrier_t captured, counted;
  pthread_barrier_init(&captured, nullptr, kThreads + 1);
  pthread_barrier_init(&counted, nullptr, kThreads + 1);
  std::vector<Frames> first(kThreads), last(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCaptures; ++i) capture_nested(i == 0 ? &first[t] : &last[t], 3);
      pthread_barrier_wait(&captured);
      pthread_barrier_wait(&counted);
    });
  }
  pthread_barrier_wait(&captured);
  const int held = internal::fast_unwind_places_taken();
  pthread_barrier_wait(&counted);
  for (std::thread& t : threads) t.join();
  pthread_barrier_destroy(&captured);
  pthread_barrier_destroy(&counted);
  EXPECT_EQ(held, internal::kFastUnwindPlaces);
  EXPECT_EQ(internal::fast_unwind_places_taken(), 0) << "a place outlived its thread";
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_GE(first[t].depth, 5);
    EXPECT_EQ(last[t].list(), first[t].list()) << "thread " << t;
  }
}

// A fork child has only the forking thread: the places of the parent's
// other threads are not its own (their threads, and their caches' owners,
// do not exist there), so the child starts with the forking thread's place
// alone, here none, and its own threads can take all four.
TEST(StackCapture, ForkChild_CountsOnlyTheForkingThreadsPlace) {
  constexpr int kHolders = 2;
  constexpr int kCaptures = static_cast<int>(internal::kCapturesBeforeFastUnwind) + 2;
  ASSERT_EQ(internal::fast_unwind_places_taken(), 0);
  pthread_barrier_t captured, forked;
  pthread_barrier_init(&captured, nullptr, kHolders + 1);
  pthread_barrier_init(&forked, nullptr, kHolders + 1);
  std::vector<std::thread> holders;
  for (int t = 0; t < kHolders; ++t) {
    holders.emplace_back([&] {
      Frames f;
      for (int i = 0; i < kCaptures; ++i) capture_nested(&f, 2);
      pthread_barrier_wait(&captured);
      pthread_barrier_wait(&forked);
    });
  }
  pthread_barrier_wait(&captured);
  const int in_parent = internal::fast_unwind_places_taken();
  // The child's body: a load before its own thread (async-signal-safe so
  // far), then a thread that keeps capturing must get a place.
  const test_support::ChildOutcome out = test_support::run_in_child(
      [] {
        const int in_child = internal::fast_unwind_places_taken();
        if (in_child != 0) return 10 + in_child;
        int took = -1;
        std::thread([&] {
          Frames f;
          for (int i = 0; i < kCaptures; ++i) capture_nested(&f, 2);
          took = internal::fast_unwind_places_taken();
        }).join();
        return took == 1 ? 0 : 20 + took;
      },
      std::chrono::seconds(20));
  pthread_barrier_wait(&forked);
  for (std::thread& t : holders) t.join();
  pthread_barrier_destroy(&captured);
  pthread_barrier_destroy(&forked);
  EXPECT_EQ(in_parent, kHolders);
  // 10 + the places the child started with; 20 + the count its thread saw.
  EXPECT_TRUE(out.exited_with(0)) << out.describe();
  EXPECT_EQ(internal::fast_unwind_places_taken(), 0);
}

}  // namespace
}  // namespace syncscope::prof
