// A join racing with its task's finish never hangs: the finishing side
// notifies only when a joiner counted itself (TaskRecord::done/joiners), so
// a lost wake-up would leave join() waiting forever. Run in a forked child
// with a deadline, as every hang test here; not under the sanitizers, whose
// runtimes do not support threads started after a multi-threaded fork.
#include <gtest/gtest.h>

#include <chrono>

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

TEST(SpawnJoin, JoinRacingWithFinish_NeverHangs) {
  const auto out = test_support::run_in_child(join_rounds, std::chrono::seconds(60));
  EXPECT_TRUE(out.exited_with(0)) << out.describe() << " (3: no join overlapped its task)";
}

}  // namespace
}  // namespace syncscope::task
