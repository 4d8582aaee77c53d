// Bounded stress: many short tasks on executors and detached threads while
// other threads query the registry, dump all threads, snapshot the trace
// and cancel tasks. Checks that nothing is lost or left behind.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "syncscope/task/task.h"
#include "task_test_util.h"

namespace syncscope::task {
namespace {

using namespace std::chrono_literals;

TEST(TaskStress, SpawnFinishUnderConcurrentQueriesDumpsAndTracing) {
  clear_trace();
  start_tracing({.events_per_thread = 1024});
  constexpr int kProducers = 3;
  constexpr int kPerProducer = 1500;
  std::atomic<int> ran{0};
  std::atomic<bool> done{false};
  {
    Executor ex({.name = "stress", .workers = 4, .queue_capacity = 128, .default_deadline = 2s});
    std::thread observer([&] {
      int rounds = 0;
      while (!done && rounds < 200) {
        const auto live = TaskRegistry::instance().live_tasks();
        for (const TaskInfo& t : live) {
          if (t.id % 7 == 0) TaskRegistry::instance().request_stop(t.id);
        }
        (void)TaskRegistry::group_by_site(live);
        if (rounds % 20 == 0) (void)dump_all_threads({.timeout = 2000ms});
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
        for (int i = 0; i < kPerProducer; ++i) {
          if (i % 100 == 0) {
            spawn_detached("stress-detached", [&] { ran.fetch_add(1); }).join();
            continue;
          }
          ex.spawn("stress-task", [&ran, i, p](std::stop_token stop) {
            auto b = blocking("stress wait", &ran);
            if (!stop.stop_requested() && i % 3 == p % 3) std::this_thread::yield();
            ran.fetch_add(1);
          });
        }
      });
    }
    for (auto& t : producers) t.join();
    ex.shutdown();
    done = true;
    observer.join();
    EXPECT_EQ(ex.stats().completed + 0u, static_cast<std::uint64_t>(kProducers * (kPerProducer - kPerProducer / 100)));
  }
  stop_tracing();
  EXPECT_EQ(ran.load(), kProducers * kPerProducer);
  for (const TaskInfo& t : TaskRegistry::instance().live_tasks()) {
    EXPECT_NE(t.name.rfind("stress", 0), 0u) << "left behind: " << t.name;
  }
  clear_trace();
}

}  // namespace
}  // namespace syncscope::task
