// Bounded stress: many short tasks on executors and detached threads while
// other threads query the registry, dump all threads, snapshot the trace
// and cancel tasks. Checks that nothing is lost or left behind.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <latch>
#include <thread>
#include <vector>

#include "syncscope/task/task.h"
#include "task_test_util.h"

namespace syncscope::task {
namespace {

using namespace std::chrono_literals;

// Raises `max` to at least `v` (relaxed: statistics read after the joins).
void raise_max(std::atomic<int>& max, int v) {
  int seen = max.load(std::memory_order_relaxed);
  while (v > seen && !max.compare_exchange_weak(seen, v, std::memory_order_relaxed)) {
  }
}

// Names of the tasks this test spawns, as the registry shows them.
bool is_stress_task(const TaskInfo& t) { return t.name.rfind("stress", 0) == 0; }

TEST(TaskStress, SpawnFinishUnderConcurrentQueriesDumpsAndTracing) {
  clear_trace();
  start_tracing({.events_per_thread = 1024});
  constexpr int kProducers = 3;
  constexpr int kPerProducer = 1500;
  // A producer goes on past kPerProducer, up to this many, until a thread
  // dump has overlapped the producers: under TSan on a loaded machine one
  // dump outlasted all of the producers' work.
  constexpr int kMaxPerProducer = 30'000;
  std::atomic<int> ran{0};
  std::atomic<int> spawned_on_executor{0}, spawned_detached{0};
  std::atomic<bool> done{false};
  // Overlap evidence (all relaxed: counters read after the joins):
  std::atomic<int> inside{0}, max_inside{0};   // executor tasks running at once
  std::atomic<int> producers_running{0};
  std::atomic<int> rounds_seeing_tasks{0};     // observer rounds that found this test's tasks live
  std::atomic<int> dumps_while_producing{0};   // thread dumps taken while producers were spawning
  std::atomic<int> stops_requested{0};
  std::latch start(kProducers + 1);            // producers and observer begin together
  {
    Executor ex({.name = "stress", .workers = 4, .queue_capacity = 128, .default_deadline = 2s});
    // One task stays live until the observer has listed a task of this test
    // (bounded: 10 s), so the listing overlaps a live task however the
    // scheduler orders the threads: under ASan the producers once finished
    // all their tasks before the observer's first listing.
    ex.spawn("stress-held", [&rounds_seeing_tasks] {
      for (int i = 0; i < 10'000 && rounds_seeing_tasks.load(std::memory_order_relaxed) == 0; ++i) {
        std::this_thread::sleep_for(1ms);
      }
    });
    std::thread observer([&] {
      start.arrive_and_wait();
      int rounds = 0;
      while (!done && rounds < 200) {
        const bool producing = producers_running.load(std::memory_order_relaxed) > 0;
        const auto live = TaskRegistry::instance().live_tasks();
        bool saw_ours = false;
        for (const TaskInfo& t : live) {
          saw_ours = saw_ours || is_stress_task(t);
          if (t.id % 7 == 0 && TaskRegistry::instance().request_stop(t.id)) stops_requested.fetch_add(1, std::memory_order_relaxed);
        }
        if (saw_ours) rounds_seeing_tasks.fetch_add(1, std::memory_order_relaxed);
        (void)TaskRegistry::group_by_site(live);
        if (rounds % 20 == 0) {
          (void)dump_all_threads({.timeout = 2000ms});
          // Producing before and after the dump: the dump overlapped them.
          if (producing && producers_running.load(std::memory_order_relaxed) > 0) {
            dumps_while_producing.fetch_add(1, std::memory_order_relaxed);
          }
        }
        if (rounds % 25 == 0) {
          EXPECT_TRUE(nlohmann::json::parse(trace_snapshot_json(50ms)).contains("traceEvents"));
        }
        ++rounds;
        std::this_thread::sleep_for(1ms);
      }
    });
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        producers_running.fetch_add(1, std::memory_order_relaxed);
        start.arrive_and_wait();
        for (int i = 0; i < kMaxPerProducer &&
                        (i < kPerProducer || dumps_while_producing.load(std::memory_order_relaxed) == 0);
             ++i) {
          if (i % 100 == 0) {
            spawn_detached("stress-detached", [&] { ran.fetch_add(1); }).join();
            spawned_detached.fetch_add(1, std::memory_order_relaxed);
            continue;
          }
          spawned_on_executor.fetch_add(1, std::memory_order_relaxed);
          ex.spawn("stress-task", [&ran, &inside, &max_inside, i, p](std::stop_token stop) {
            raise_max(max_inside, inside.fetch_add(1, std::memory_order_relaxed) + 1);
            auto b = blocking("stress wait", &ran);
            if (!stop.stop_requested() && i % 3 == p % 3) std::this_thread::yield();
            ran.fetch_add(1);
            inside.fetch_sub(1, std::memory_order_relaxed);
          });
        }
        producers_running.fetch_sub(1, std::memory_order_relaxed);
      });
    }
    for (auto& t : producers) t.join();
    ex.shutdown();
    done = true;
    observer.join();
    EXPECT_GE(spawned_on_executor.load() + spawned_detached.load(), kProducers * kPerProducer);
    EXPECT_EQ(ex.stats().completed + 0u, static_cast<std::uint64_t>(spawned_on_executor.load() + 1));  // + stress-held
  }
  stop_tracing();
  EXPECT_EQ(ran.load(), spawned_on_executor.load() + spawned_detached.load());
  for (const TaskInfo& t : TaskRegistry::instance().live_tasks()) {
    EXPECT_NE(t.name.rfind("stress", 0), 0u) << "left behind: " << t.name;
  }
  // The stress happened concurrently, not one piece after another: two
  // executor tasks ran at once, and the observer's queries and thread dumps
  // ran while the producers were spawning.
  std::printf("[ info ] at most %d tasks at once; %d observer rounds saw live tasks, %d dumps while producing, "
              "%d stops requested\n",
              max_inside.load(), rounds_seeing_tasks.load(), dumps_while_producing.load(), stops_requested.load());
  EXPECT_GE(max_inside.load(), 2) << "the executor never ran two tasks at once";
  EXPECT_GE(rounds_seeing_tasks.load(), 1) << "the observer never saw a live task of this test";
  EXPECT_GE(dumps_while_producing.load(), 1) << "no thread dump overlapped the producers";
  clear_trace();
}

}  // namespace
}  // namespace syncscope::task
