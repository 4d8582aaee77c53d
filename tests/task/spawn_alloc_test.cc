// Allocations per tracked task, counted by the heap profiler's hooks (an
// oracle outside the task code): once records are recycled, a task whose
// function takes () allocates nothing; one whose function takes a
// std::stop_token allocates its std::stop_source state.
#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <string>

#include "syncscope/prof/heap_profiler.h"
#include "syncscope/task/task.h"

namespace syncscope::task {
namespace {

constexpr int kTasks = 1024;
constexpr int kBatch = 16;  // tasks in flight at once
static_assert(kTasks % kBatch == 0);

// Spawns kTasks tasks on `ex`, kBatch at a time, and waits until each has
// counted down; their function takes a std::stop_token if `with_token`.
// Each batch ends with a fence task joined behind it (one worker, FIFO), so
// every record of the batch is back in the pool before the next batch
// spawns. Without batches the count depended on scheduling: a spawner far
// ahead of a descheduled worker needs up to kTasks records at once, more
// than a warm pool holds, and a loaded machine (ctest -j2) saw 0.3
// allocations per task where a quiet one saw none.
void spawn_and_wait(Executor& ex, std::atomic<int>& ran, bool with_token = false) {
  for (int b = 0; b < kTasks / kBatch; ++b) {
    std::latch all(kBatch);
    for (int i = 0; i < kBatch; ++i) {
      // A short name (no heap string) and a one-pointer capture pair (inline
      // in the job): what allocates is the tracking, not the test.
      if (with_token) {
        ex.spawn("alloc-probe", [&all, &ran](std::stop_token stop) {
          if (!stop.stop_possible()) return;  // the latch then times the test out
          ran.fetch_add(1, std::memory_order_relaxed);  // relaxed: counted after the latch
          all.count_down();
        });
      } else {
        ex.spawn("alloc-probe", [&all, &ran] {
          ran.fetch_add(1, std::memory_order_relaxed);  // relaxed: counted after the latch
          all.count_down();
        });
      }
    }
    all.wait();
    ex.spawn("alloc-fence", [] {}).join();
  }
}

// Allocations per task of the second of two rounds on one executor, after
// a warm-up executor has filled the record pool.
double allocations_per_task(bool with_token) {
  std::atomic<int> ran{0};
  {
    Executor warm({.name = "warm", .workers = 1});
    spawn_and_wait(warm, ran, with_token);
  }
  Executor ex({.name = "measured", .workers = 1});
  spawn_and_wait(ex, ran, with_token);
  const std::uint64_t before = prof::HeapProfiler::counters().allocated_objects;
  spawn_and_wait(ex, ran, with_token);
  const std::uint64_t after = prof::HeapProfiler::counters().allocated_objects;
  EXPECT_EQ(ran.load(std::memory_order_relaxed), 3 * kTasks);  // relaxed: after the latches
  return static_cast<double>(after - before) / kTasks;
}

// A task that never asks for its stop token creates no stop state.
TEST(SpawnAllocations, TaskWithoutStopToken_AllocatesNothing) {
  ASSERT_TRUE(prof::HeapProfiler::hooks_installed());
  const double per_task = allocations_per_task(false);
  // 0 per task; the slack covers a record that missed the pool. Before the
  // lazy stop state: 1 per task (the state), >= 2 before recycled records.
  EXPECT_LE(per_task, 0.2) << per_task << " allocations per task";
  RecordProperty("allocations_per_task", std::to_string(per_task));
}

// A task whose function takes a std::stop_token gets a real one: its stop
// state, one allocation per task.
TEST(SpawnAllocations, TaskTakingStopToken_AllocatesItsStopState) {
  ASSERT_TRUE(prof::HeapProfiler::hooks_installed());
  const double per_task = allocations_per_task(true);
  EXPECT_GE(per_task, 0.9) << per_task << " allocations per task";
  EXPECT_LE(per_task, 1.2) << per_task << " allocations per task";
  RecordProperty("allocations_per_task", std::to_string(per_task));
}

}  // namespace
}  // namespace syncscope::task
