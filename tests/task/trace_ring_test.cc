// The flight recorder's per-thread ring (task/trace_buffer.h): a writer that
// never waits, snapshots that keep only whole events, overflow that keeps the
// newest events and counts the rest.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "task/trace_buffer.h"

namespace syncscope::task::internal {
namespace {

// Event i carries i in three fields and a name of one repeated letter
// derived from i: a copy mixing two events' words fails check_whole.
TraceEvent make_event(std::uint64_t i) {
  TraceEvent e{};
  e.ts_ns = static_cast<std::int64_t>(i);
  e.id = i;
  e.value = static_cast<double>(i);
  e.type = EventType::kInstant;
  e.name_len = kTraceNameMax;
  for (char& c : e.name) c = static_cast<char>('a' + i % 26);
  return e;
}

bool check_whole(const TraceEvent& e) {
  if (e.ts_ns != static_cast<std::int64_t>(e.id) || e.value != static_cast<double>(e.id)) return false;
  if (e.type != EventType::kInstant || e.name_len != kTraceNameMax) return false;
  for (char c : e.name) {
    if (c != static_cast<char>('a' + e.id % 26)) return false;
  }
  return true;
}

TEST(TraceRing, Overflow_KeepsTheNewestAndCountsTheRest) {
  ThreadRing ring(1, "t", 64);
  ASSERT_TRUE(ring.ok());
  for (std::uint64_t i = 0; i < 200; ++i) ring.append(make_event(i));
  EXPECT_EQ(ring.written(), 200u);
  EXPECT_EQ(ring.overwritten(), 200u - 64u);
  std::vector<TraceEvent> out;
  ring.copy_since(0, out);
  ASSERT_EQ(out.size(), 64u);
  for (std::size_t k = 0; k < out.size(); ++k) {
    EXPECT_EQ(out[k].id, 136u + k);
    EXPECT_TRUE(check_whole(out[k])) << "event " << k;
  }
  out.clear();
  ring.copy_since(190, out);  // the window: only ts >= 190
  ASSERT_EQ(out.size(), 10u);
  EXPECT_EQ(out.front().id, 190u);
}

TEST(TraceRing, CapacityIsRoundedUpToAPowerOfTwo) {
  ThreadRing ring(1, "t", 100);
  EXPECT_EQ(ring.capacity, 128u);
}

// One writer laps a 64-event ring continuously while this thread copies it.
// Every copy must hold only whole events, consecutive and ending no later
// than the writer's count after the copy. Overlap is asserted: copies during
// which the writer advanced are counted, and the writer runs until enough
// of them were seen (or its bounded count runs out).
TEST(TraceRing, ConcurrentSnapshots_SeeOnlyWholeEventsInOrder) {
#if defined(SYNCSCOPE_TSAN)
  constexpr std::uint64_t kMaxEvents = 2'000'000;
#else
  constexpr std::uint64_t kMaxEvents = 50'000'000;
#endif
  constexpr int kWantOverlaps = 200;
  constexpr int kMaxCopies = 1'000'000;
  ThreadRing ring(1, "writer", 64);
  ASSERT_TRUE(ring.ok());
  std::atomic<bool> stop{false};
  std::atomic<bool> writer_started{false};
  std::thread writer([&] {
    writer_started.store(true, std::memory_order_release);  // release: pairs with the acquire spin below
    // relaxed: a stop request only; the ring's own protocol orders the data.
    for (std::uint64_t i = 0; i < kMaxEvents && !stop.load(std::memory_order_relaxed); ++i) {
      ring.append(make_event(i));
    }
  });
  while (!writer_started.load(std::memory_order_acquire)) std::this_thread::yield();
  int overlaps = 0, copies = 0, torn = 0, gaps = 0, too_new = 0, too_old = 0;
  std::vector<TraceEvent> out;
  while (overlaps < kWantOverlaps && copies < kMaxCopies) {
    const std::uint64_t before = ring.written();
    out.clear();
    ring.copy_since(0, out);
    const std::uint64_t after = ring.written();
    ++copies;
    for (std::size_t k = 0; k < out.size(); ++k) {
      torn += check_whole(out[k]) ? 0 : 1;
      if (k > 0) gaps += out[k].id == out[k - 1].id + 1 ? 0 : 1;
    }
    if (!out.empty()) {
      too_new += out.back().id < after ? 0 : 1;
      too_old += out.front().id + ring.capacity >= before ? 0 : 1;
    }
    if (after != before && !out.empty()) ++overlaps;
    if (after >= kMaxEvents) break;  // the writer is done
  }
  stop.store(true, std::memory_order_relaxed);  // relaxed: see the writer loop
  writer.join();
  EXPECT_EQ(torn, 0) << "copies holding a torn event, of " << copies;
  EXPECT_EQ(gaps, 0);
  EXPECT_EQ(too_new, 0);
  EXPECT_EQ(too_old, 0);
  EXPECT_GE(overlaps, 1) << "no copy overlapped the writer in " << copies << " copies";
}

}  // namespace
}  // namespace syncscope::task::internal
