// Cancellation of tasks whose stop state is created lazily
// (src/task/lazy_stop_source.h): a task that never asked for its token still
// stops when asked, by every route (its handle, the registry, executor
// shutdown, a request made while it was queued), and a request racing with
// the first ask for a token is never lost.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <semaphore>
#include <thread>
#include <vector>

#include "syncscope/task/task.h"
#include "task/lazy_stop_source.h"
#include "task_test_util.h"

namespace syncscope::task {
namespace {

using namespace std::chrono_literals;
using internal::LazyStopSource;

// Spins (bounded) until this task is asked to stop; true if it was.
bool spin_until_stop_requested() {
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < until) {
    if (this_task::stop_requested()) return true;
    std::this_thread::yield();
  }
  return false;
}

TEST(LazyStop, TaskWithoutToken_SeesHandleRequestWhileRunning) {
  Executor ex({.name = "lazy", .workers = 1});
  std::binary_semaphore started{0};
  std::atomic<bool> saw_stop{false};
  TaskHandle h = ex.spawn("no-token", [&] {
    started.release();
    saw_stop.store(spin_until_stop_requested(), std::memory_order_relaxed);  // relaxed: read after join
  });
  ASSERT_TRUE(started.try_acquire_for(10s));
  EXPECT_TRUE(h.request_stop()) << "the first request reports that it made it";
  EXPECT_FALSE(h.request_stop()) << "a second request reports that it did not";
  ASSERT_TRUE(h.join_for(10s));
  EXPECT_TRUE(saw_stop.load(std::memory_order_relaxed));  // relaxed: after join
  EXPECT_TRUE(h.info().stop_requested);
}

TEST(LazyStop, TaskWithoutToken_WaitWrapperReturnsOnRegistryRequest) {
  Executor ex({.name = "lazy", .workers = 1});
  test::Gate never;  // never opened: only the stop request ends the wait
  std::atomic<int> wait_result{-1};
  TaskHandle h = ex.spawn("waiter", [&] {
    wait_result.store(never.wait("lazy gate") ? 1 : 0, std::memory_order_relaxed);  // relaxed: read after join
  });
  ASSERT_TRUE(test::eventually([&] { return test::blocked_named("waiter") == 1; }));
  EXPECT_TRUE(TaskRegistry::instance().request_stop(h.id()));
  ASSERT_TRUE(h.join_for(10s));
  EXPECT_EQ(wait_result.load(std::memory_order_relaxed), 0) << "the wait returned false: cancelled";  // relaxed: after join
}

TEST(LazyStop, RequestWhileQueued_ReachesTokenTakingAndTokenlessTasks) {
  Executor ex({.name = "lazy", .workers = 1});
  test::Gate gate;
  TaskHandle blocker = ex.spawn("blocker", [&] { gate.wait("lazy gate"); });
  std::atomic<int> token_saw{-1};
  std::atomic<int> plain_saw{-1};
  TaskHandle with_token = ex.spawn("token", [&](std::stop_token stop) {
    token_saw.store(stop.stop_requested() ? 1 : 0, std::memory_order_relaxed);  // relaxed: read after join
  });
  TaskHandle without = ex.spawn("plain", [&] {
    plain_saw.store(this_task::stop_requested() ? 1 : 0, std::memory_order_relaxed);  // relaxed: read after join
  });
  // Both are still queued behind the blocker: requested before their state exists.
  EXPECT_EQ(with_token.info().state, TaskState::kQueued);
  EXPECT_TRUE(with_token.request_stop());
  EXPECT_TRUE(without.request_stop());
  EXPECT_FALSE(with_token.request_stop());
  gate.open();
  ASSERT_TRUE(blocker.join_for(10s));
  ASSERT_TRUE(with_token.join_for(10s));
  ASSERT_TRUE(without.join_for(10s));
  EXPECT_EQ(token_saw.load(std::memory_order_relaxed), 1);  // relaxed: after join
  EXPECT_EQ(plain_saw.load(std::memory_order_relaxed), 1);  // relaxed: after join
}

TEST(LazyStop, ExecutorShutdown_StopsTaskWithoutToken) {
  std::atomic<bool> saw_stop{false};
  std::binary_semaphore started{0};
  TaskHandle h;
  {
    Executor ex({.name = "lazy", .workers = 1});
    h = ex.spawn("until-shutdown", [&] {
      started.release();
      saw_stop.store(spin_until_stop_requested(), std::memory_order_relaxed);  // relaxed: read after join
    });
    ASSERT_TRUE(started.try_acquire_for(10s));
  }  // ~Executor requests stop on every task it runs
  ASSERT_TRUE(h.join_for(10s));
  EXPECT_TRUE(saw_stop.load(std::memory_order_relaxed));  // relaxed: after join
}

// One requester and one first ask for a token, released together on two
// threads, many times: the token always ends up stopped, request_stop()
// claims the request exactly once, and both orders occur (the race was run).
TEST(LazyStop, RequestRacingFirstTokenAsk_IsNeverLost) {
  constexpr int kRounds = 2000;
  std::vector<LazyStopSource> sources(kRounds);
  std::vector<std::stop_token> tokens(kRounds);
  std::vector<char> stopped_when_taken(kRounds, 0);
  // Round r starts when both threads have counted 2r+1 and 2r+2 arrivals.
  std::atomic<int> arrivals{0};
  const auto meet = [&](int round) {
    // acq_rel: the start line of a round for both threads; publishes nothing else.
    arrivals.fetch_add(1, std::memory_order_acq_rel);
    // acquire: pairs with the other thread's fetch_add above.
    while (arrivals.load(std::memory_order_acquire) < 2 * (round + 1)) std::this_thread::yield();
  };
  std::thread asker([&] {
    for (int r = 0; r < kRounds; ++r) {
      meet(r);
      tokens[r] = sources[r].get_token();
      stopped_when_taken[r] = tokens[r].stop_requested() ? 1 : 0;
    }
  });
  std::vector<char> claimed(kRounds, 0);
  for (int r = 0; r < kRounds; ++r) {
    meet(r);
    claimed[r] = sources[r].request_stop() ? 1 : 0;
  }
  asker.join();
  int token_first = 0;
  int request_first = 0;
  for (int r = 0; r < kRounds; ++r) {
    ASSERT_TRUE(claimed[r]) << "round " << r;
    ASSERT_TRUE(tokens[r].stop_requested()) << "round " << r << ": the request was lost";
    ASSERT_TRUE(sources[r].stop_requested()) << "round " << r;
    ASSERT_FALSE(sources[r].request_stop()) << "round " << r;
    (stopped_when_taken[r] != 0 ? request_first : token_first) += 1;
  }
  EXPECT_GT(token_first, 0) << "the token was never taken before the request";
  EXPECT_GT(request_first, 0) << "the request never came before the token";
  RecordProperty("token_first", token_first);
  RecordProperty("request_first", request_first);
}

}  // namespace
}  // namespace syncscope::task
