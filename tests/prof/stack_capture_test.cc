// capture_stack: many captures from one site give the same frames (the
// per-thread trace cache of unw_backtrace must not change what it returns).
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
