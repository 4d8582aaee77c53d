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
#include "support/waiting_tasks.h"

namespace syncscope::retain {
namespace {

using test_support::KeptOwner;
using test_support::wait_blocked;

KeptOwner* volatile g_kept = nullptr;  // volatile: the global store must stay

TEST(LeakedTasks, WaitOnUnreachablePromise_ReportedAndReachableOneNot) {
  prof::HeapProfiler::set_exact_mode(true);
  test_support::WaitingTasks waiting = test_support::spawn_waiting_tasks("leaky-waiter", "kept-waiter", g_kept);
  const task::TaskHandle& leaky = waiting.leaky;
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
  EXPECT_TRUE(test_support::end_waiting_tasks(waiting, g_kept));
}

}  // namespace
}  // namespace syncscope::retain
