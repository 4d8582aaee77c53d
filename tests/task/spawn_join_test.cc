// A join racing with its task's finish never hangs: the finishing side
// notifies only when a joiner counted itself (TaskRecord::done/joiners), so
// a lost wake-up would leave join() waiting forever. Run in a forked child
// with a deadline, as every hang test here; not under the sanitizers, whose
// runtimes do not support threads started after a multi-threaded fork.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "support/forked_child.h"
#include "syncscope/task/task.h"

namespace syncscope::task {
namespace {

constexpr int kRounds = 3000;
constexpr int kNoOverlap = 3;  // child exit status: no join found its task running

int join_rounds() {
  Executor ex({.name = "joinhang", .workers = 2});
  int raced = 0;
  for (int i = 0; i < kRounds; ++i) {
    int sum = 0;
    TaskHandle h = ex.spawn("short", [&sum] {
      for (int k = 0; k < 200; ++k) sum += k;
    });
    raced += h.done() ? 0 : 1;
    h.join();  // no timeout: a missed wake-up hangs here
    if (!h.done() || sum != 199 * 200 / 2) return 2;
  }
  return raced > 0 ? 0 : kNoOverlap;
}

// Joiners sleep on the record's done word (a futex) in slices of at most
// 100 ms, so a lost wake-up shows as a join that returns only after its
// slice. Four threads join each task, all before it may finish (each saw it
// not done, and the task waits for all four to have started): the finish
// must wake every sleeper. 600 rounds: with wake-ups lost each round takes
// at least one slice (60 s in all), past the child's deadline.
constexpr int kJoinerRounds = 600;
constexpr int kJoiners = 4;

int many_joiner_rounds() {
  Executor ex({.name = "joinmany", .workers = 1});
  for (int round = 0; round < kJoinerRounds; ++round) {
    std::atomic<int> started{0};
    TaskHandle h = ex.spawn("joined", [&started] {
      // Bounded spin: the joiners are threads of this process that start at once.
      for (long spins = 0; started.load(std::memory_order_acquire) < kJoiners; ++spins) {
        if (spins > 200'000'000) return;
        std::this_thread::yield();
      }
    });
    std::atomic<int> saw_running{0};
    std::vector<std::thread> joiners;
    for (int j = 0; j < kJoiners; ++j) {
      joiners.emplace_back([&] {
        saw_running.fetch_add(h.done() ? 0 : 1, std::memory_order_relaxed);  // relaxed: read after join()
        started.fetch_add(1, std::memory_order_release);  // release: pairs with the task's acquire
        h.join();
      });
    }
    for (std::thread& t : joiners) t.join();
    if (!h.done()) return 2;
    if (saw_running.load(std::memory_order_relaxed) != kJoiners) return kNoOverlap;
  }
  return 0;
}

TEST(SpawnJoin, ManyJoinersOfOneTask_AreAllWokenByItsFinish) {
  const auto out = test_support::run_in_child(many_joiner_rounds, std::chrono::seconds(30));
  EXPECT_TRUE(out.exited_with(0)) << out.describe() << " (3: a joiner found its task already done)";
}

TEST(SpawnJoin, JoinRacingWithFinish_NeverHangs) {
  const auto out = test_support::run_in_child(join_rounds, std::chrono::seconds(60));
  EXPECT_TRUE(out.exited_with(0)) << out.describe() << " (3: no join overlapped its task)";
}

}  // namespace
}  // namespace syncscope::task
