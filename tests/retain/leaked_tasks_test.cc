// Leaked tasks on the live process: a task waiting on a promise that only an
// unreachable object still holds can never be woken (reported); a task
// waiting on a promise held by an object reachable from a global can (not
// reported).
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/live_blocks.h"
#include "syncscope/retain/retention.h"
#include "syncscope/task/task.h"

namespace syncscope::retain {
namespace {

// The promise's owner keeps itself alive through a cycle: when the last
// outside reference is dropped, nothing reaches the promise any more, yet it
// is never destroyed, so the future never becomes ready (not even broken).
struct CyclicOwner {
  std::promise<int> promise;
  std::shared_ptr<CyclicOwner> self;
};

struct KeptOwner {
  std::promise<int> promise;
};
KeptOwner* volatile g_kept = nullptr;  // volatile: the global store must stay

bool wait_blocked(const std::string& name) {
  for (int i = 0; i < 2000; ++i) {
    for (const task::TaskInfo& t : task::TaskRegistry::instance().live_tasks()) {
      if (t.name == name && t.state == task::TaskState::kBlocked && t.wait_object != 0) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

TEST(LeakedTasks, WaitOnUnreachablePromise_ReportedAndReachableOneNot) {
  prof::HeapProfiler::set_exact_mode(true);
  task::TaskHandle leaky, kept;
  // Built on a helper thread so the test's stack never holds the owners.
  std::thread([&] {
    auto owner = std::make_shared<CyclicOwner>();
    owner->self = owner;
    std::future<int> lost = owner->promise.get_future();
    owner.reset();
    leaky = task::spawn_detached("leaky-waiter", [f = std::move(lost)] { task::wait(f, "reply that never comes"); });
    g_kept = new KeptOwner();
    std::future<int> held = g_kept->promise.get_future();
    kept = task::spawn_detached("kept-waiter", [f = std::move(held)] { task::wait(f, "reply"); });
  }).join();
  ASSERT_TRUE(wait_blocked("leaky-waiter"));
  ASSERT_TRUE(wait_blocked("kept-waiter"));

  absl::StatusOr<RetentionSnapshot> snap = take_snapshot();
  ASSERT_TRUE(snap.ok()) << snap.status();
  const std::vector<LeakedTask> leaked = snap->leaked_tasks();
  const std::string text = to_text(leaked);
  std::cout << text;
  ASSERT_EQ(leaked.size(), 1u) << text;
  EXPECT_EQ(leaked[0].name, "leaky-waiter");
  EXPECT_EQ(leaked[0].task_id, leaky.id());
  EXPECT_EQ(leaked[0].blocking_reason, "reply that never comes");
  EXPECT_NE(leaked[0].spawn_site.find("leaked_tasks_test.cc"), std::string::npos) << text;
  EXPECT_FALSE(leaked[0].wait_object_site.empty());

  // Clean up: the kept task completes normally, the leaked one is cancelled.
  g_kept->promise.set_value(1);
  EXPECT_TRUE(kept.join_for(std::chrono::seconds(10)));
  EXPECT_TRUE(leaky.request_stop());
  EXPECT_TRUE(leaky.join_for(std::chrono::seconds(10)));
}

}  // namespace
}  // namespace syncscope::retain
