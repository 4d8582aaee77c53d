// Allocations per tracked task, counted by the heap profiler's hooks (an
// oracle outside the task code): once records are recycled, a spawn
// allocates only the task's std::stop_source state.
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <string>

#include "syncscope/prof/heap_profiler.h"
#include "syncscope/task/task.h"

namespace syncscope::task {
namespace {

constexpr int kTasks = 1000;

// Spawns kTasks tasks on `ex` and waits until each has counted down.
void spawn_and_wait(Executor& ex, std::atomic<int>& ran) {
  std::latch all(kTasks);
  for (int i = 0; i < kTasks; ++i) {
    // A short name (no heap string) and a one-pointer capture pair (inline
    // in the job): what allocates is the tracking, not the test.
    ex.spawn("alloc-probe", [&all, &ran] {
      ran.fetch_add(1, std::memory_order_relaxed);  // relaxed: counted after the latch
      all.count_down();
    });
  }
  all.wait();
}

TEST(SpawnAllocations, RecycledRecords_LeaveOnlyTheStopStatePerTask) {
  ASSERT_TRUE(prof::HeapProfiler::hooks_installed());
  std::atomic<int> ran{0};
  {
    // Warm-up on an executor that is then shut down, so that every record
    // it used has been released (to the pool) before the measured round.
    Executor warm({.name = "warm", .workers = 1});
    spawn_and_wait(warm, ran);
  }
  Executor ex({.name = "measured", .workers = 1});
  spawn_and_wait(ex, ran);  // grows this executor's queue and label memo
  const std::uint64_t before = prof::HeapProfiler::counters().allocated_objects;
  spawn_and_wait(ex, ran);
  const std::uint64_t after = prof::HeapProfiler::counters().allocated_objects;
  EXPECT_EQ(ran.load(std::memory_order_relaxed), 3 * kTasks);  // relaxed: after the latches
  const double per_task = static_cast<double>(after - before) / kTasks;
  // 1: the stop state. Before recycling: record + stop state + queue nodes (>= 2).
  EXPECT_LE(per_task, 1.2) << (after - before) << " allocations for " << kTasks << " tasks";
  RecordProperty("allocations_per_task", std::to_string(per_task));
}

}  // namespace
}  // namespace syncscope::task
