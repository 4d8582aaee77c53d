// Registry, resident-task detection, deadlines, cancellation and the wait
// wrappers' annotations.
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <semaphore>
#include <set>
#include <sstream>

#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/task_labels.h"
#include "syncscope/task/task.h"
#include "support/forked_child.h"
#include "task_test_util.h"

namespace syncscope::task {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::Gate;

// Distinct spawn sites (the site is the source_location of the spawn call).
__attribute__((noinline)) TaskHandle spawn_from_site_a(Executor& ex, Gate& gate) {
  return ex.spawn("site-a", [&gate] { gate.wait("reply from A"); });
}
__attribute__((noinline)) TaskHandle spawn_from_site_b(Executor& ex, Gate& gate) {
  return ex.spawn("site-b", [&gate] { gate.wait("reply from B"); });
}

std::size_t count_with_function(const std::vector<SiteGroup>& groups, std::string_view fn,
                                const SiteGroup** found = nullptr) {
  std::size_t n = 0;
  for (const SiteGroup& g : groups) {
    if (std::string_view(g.site.function_name()).find(fn) != std::string_view::npos) {
      n += g.count;
      if (found != nullptr) *found = &g;
    }
  }
  return n;
}

TEST(TaskRegistry, BlockedForever_ReportedResidentWithSiteAndReason) {
  Gate gate;
  Executor ex({.name = "resident", .workers = 8});
  std::vector<TaskHandle> handles;
  for (int i = 0; i < 3; ++i) handles.push_back(spawn_from_site_a(ex, gate));
  ASSERT_TRUE(eventually([] { return test::blocked_named("site-a") == 3; }));
  std::this_thread::sleep_for(60ms);
  // Younger tasks, spawned after the threshold period began, are not resident.
  handles.push_back(spawn_from_site_b(ex, gate));
  ASSERT_TRUE(eventually([] { return test::blocked_named("site-b") == 1; }));

  const auto groups = TaskRegistry::instance().resident_by_site(50ms);
  const SiteGroup* a = nullptr;
  EXPECT_EQ(count_with_function(groups, "spawn_from_site_a", &a), 3u);
  EXPECT_EQ(count_with_function(groups, "spawn_from_site_b"), 0u);
  ASSERT_NE(a, nullptr);
  EXPECT_NE(a->site_string.find("task_registry_test.cc"), std::string::npos) << a->site_string;
  ASSERT_EQ(a->reasons.size(), 1u);
  EXPECT_EQ(a->reasons[0].first, "reply from A");
  EXPECT_EQ(a->reasons[0].second, 3u);
  EXPECT_GE(a->oldest_age, 50ms);
  EXPECT_EQ(a->oldest.state, TaskState::kBlocked);
  EXPECT_EQ(a->oldest.wait_object, reinterpret_cast<std::uintptr_t>(&gate.cv));
  EXPECT_EQ(a->oldest.executor, "resident");
  EXPECT_NE(a->oldest.thread_id, 0);
  EXPECT_FALSE(a->oldest.spawn_stack.empty());

  const std::string report = resident_report_text(50ms);
  EXPECT_NE(report.find("3 tasks at"), std::string::npos) << report;
  EXPECT_NE(report.find("blocked: reply from A (3)"), std::string::npos) << report;
  gate.open();
  for (auto& h : handles) h.join();
}

TEST(TaskRegistry, FinishedTasks_VanishFromLiveSet) {
  Gate gate;
  Executor ex({.name = "vanish", .workers = 4});
  std::vector<TaskHandle> handles;
  for (int i = 0; i < 4; ++i) handles.push_back(ex.spawn("short-lived", [&] { gate.wait("gate"); }));
  ASSERT_TRUE(eventually([] { return test::blocked_named("short-lived") == 4; }));
  for (auto& h : handles) EXPECT_TRUE(TaskRegistry::instance().find(h.id()).has_value());
  gate.open();
  for (auto& h : handles) {
    h.join();
    EXPECT_TRUE(h.done());
    EXPECT_FALSE(TaskRegistry::instance().find(h.id()).has_value());
    EXPECT_EQ(h.info().state, TaskState::kDone);
  }
  for (const TaskInfo& t : TaskRegistry::instance().live_tasks()) EXPECT_NE(t.name, "short-lived");
  EXPECT_EQ(ex.stats().completed, 4u);
}

TEST(TaskRegistry, Join_ReturnsAfterTheClosureReleasedItsCaptures) {
  auto payload = std::make_shared<int>(7);
  Executor ex({.name = "captures", .workers = 1});
  TaskHandle h = ex.spawn("holder", [payload] { EXPECT_EQ(*payload, 7); });
  h.join();
  EXPECT_EQ(payload.use_count(), 1);  // nothing but this test still holds it
  TaskHandle d = spawn_detached("detached-holder", [payload] { EXPECT_EQ(*payload, 7); });
  d.join();
  EXPECT_EQ(payload.use_count(), 1);
}

TEST(TaskRegistry, CountsBySite_AreExact) {
  Gate gate;
  Executor ex({.name = "counts", .workers = 12, .queue_capacity = 64});
  std::vector<TaskHandle> handles;
  for (int i = 0; i < 7; ++i) handles.push_back(spawn_from_site_a(ex, gate));
  for (int i = 0; i < 5; ++i) handles.push_back(spawn_from_site_b(ex, gate));
  // Four more from site b never start (all workers busy): queued, still live.
  Executor small({.name = "queued", .workers = 1});
  handles.push_back(small.spawn("blocker", [&] { gate.wait("gate"); }));
  for (int i = 0; i < 4; ++i) handles.push_back(spawn_from_site_b(small, gate));
  ASSERT_TRUE(eventually([] { return test::blocked_named("site-a") == 7 && test::blocked_named("site-b") == 5; }));

  const auto groups = TaskRegistry::group_by_site(TaskRegistry::instance().live_tasks());
  const SiteGroup* b = nullptr;
  EXPECT_EQ(count_with_function(groups, "spawn_from_site_a"), 7u);
  EXPECT_EQ(count_with_function(groups, "spawn_from_site_b", &b), 9u);
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->reasons.size(), 2u);
  EXPECT_EQ(b->reasons[0], std::make_pair(std::string("reply from B"), std::size_t{5}));
  EXPECT_EQ(b->reasons[1], std::make_pair(std::string(""), std::size_t{4}));  // queued
  // Oldest first, both across groups and within the live list.
  const auto live = TaskRegistry::instance().live_tasks();
  for (std::size_t i = 1; i < live.size(); ++i) EXPECT_LE(live[i - 1].created, live[i].created);
  for (std::size_t i = 1; i < groups.size(); ++i) EXPECT_LE(groups[i - 1].oldest.created, groups[i].oldest.created);
  gate.open();
  for (auto& h : handles) h.join();
}

TEST(TaskRegistry, LiveCountAndTotalSpawned_AgreeWithTheLiveList) {
  // Oracle: the registry's lists (live_tasks walks them); live_count() and
  // total_spawned() are counters kept beside them.
  const std::size_t base_live = TaskRegistry::instance().live_tasks().size();
  ASSERT_EQ(TaskRegistry::instance().live_count(), base_live);
  const std::uint64_t base_spawned = TaskRegistry::instance().total_spawned();
  Gate gate;
  Executor running({.name = "count-run", .workers = 3});
  Executor queued({.name = "count-queue", .workers = 1, .queue_capacity = 3});
  std::vector<TaskHandle> handles;
  for (int i = 0; i < 3; ++i) handles.push_back(running.spawn("counted", [&] { gate.wait("gate"); }));
  for (int i = 0; i < 3; ++i) handles.push_back(queued.spawn("counted", [&] { gate.wait("gate"); }));
  ASSERT_TRUE(eventually([] { return test::blocked_named("counted") == 4; }));
  // queued: one task running, two waiting; a third fills the queue, and a
  // refused spawn then registers and unregisters its record.
  handles.push_back(queued.spawn("counted", [&] { gate.wait("gate"); }));
  const std::optional<TaskHandle> refused = queued.try_spawn("refused", [] {});
  EXPECT_FALSE(refused.has_value());
  EXPECT_EQ(TaskRegistry::instance().live_tasks().size(), base_live + 7);
  EXPECT_EQ(TaskRegistry::instance().live_count(), base_live + 7);
  EXPECT_EQ(TaskRegistry::instance().total_spawned(), base_spawned + 8);
  gate.open();
  for (auto& h : handles) h.join();
  EXPECT_EQ(TaskRegistry::instance().live_tasks().size(), base_live);
  EXPECT_EQ(TaskRegistry::instance().live_count(), base_live);
}

std::source_location here(std::source_location s = std::source_location::current()) { return s; }

TEST(Tasks, ProfilerLabel_IsTheInternedNameAndSite_ForMoreSitesThanAWorkerRemembers) {
  // Eleven sites (two on one line: same site text, different columns) and
  // two names, each pair run twice in a row in each of three rounds on one worker: more pairs than the
  // worker's label memo holds, so hits, misses and evictions all happen.
  // Oracle: the label table itself, through intern_task_label (an existing
  // pair returns its id) and task_label_strings.
  // clang-format off
  const std::source_location sites[] = {
      here(),
      here(),
      here(),
      here(),
      here(),
      here(),
      here(),
      here(),
      here(),
      here(), here()};
  // clang-format on
  const char* const names[] = {"label-x", "label-y"};
  Executor ex({.name = "labels", .workers = 1, .queue_capacity = 256});
  struct Run {
    TaskHandle handle;
    std::uint32_t label = 0;  // the worker's label while the task ran
  };
  std::vector<Run> runs(3 * std::size(sites) * std::size(names) * 2);
  std::size_t next = 0;
  for (int round = 0; round < 3; ++round) {
    for (const std::source_location& site : sites) {
      for (const char* name : names) {
        for (int repeat = 0; repeat < 2; ++repeat) {  // the second one in a row hits
          Run& run = runs[next++];
          run.handle = ex.spawn(name, [&run] {
            run.label = prof::thread_task_label(static_cast<pid_t>(::syscall(SYS_gettid)));
          }, {}, site);
        }
      }
    }
  }
  for (Run& run : runs) run.handle.join();  // join orders the task's write before the reads below
  std::set<std::uint32_t> distinct;
  for (const Run& run : runs) {
    const TaskInfo info = run.handle.info();
    ASSERT_NE(run.label, 0u) << info.name << " at " << info.site_string();
    EXPECT_EQ(run.label, prof::intern_task_label(info.name, info.site_string()));
    std::string task, site;
    ASSERT_TRUE(prof::task_label_strings(run.label, &task, &site));
    EXPECT_EQ(task, info.name);
    EXPECT_EQ(site, info.site_string());
    distinct.insert(run.label);
  }
  // Ten distinct site texts (two sites share a line) times two names.
  EXPECT_EQ(distinct.size(), 10u * 2u);
}

// A fork child's thread has a tid of its own: a label it sets must be found
// under that tid (what the CPU profiler's handler reads) and by
// this_thread_task_label (what the heap and contention samplers read). The
// parent thread sets a label first, so its tid is cached before the fork.
TEST(Tasks, ProfilerLabel_SetInAForkChild_IsFoundUnderTheChildsTid) {
  const std::uint32_t before = prof::set_thread_task_label(7);
  EXPECT_EQ(prof::this_thread_task_label(), 7u);
  const test_support::ChildOutcome out = test_support::run_in_child(
      [] {
        prof::set_thread_task_label(9);
        const auto tid = static_cast<pid_t>(::syscall(SYS_gettid));
        if (prof::thread_task_label(tid) != 9) return 1;
        if (prof::this_thread_task_label() != 9) return 2;
        return 0;
      },
      std::chrono::seconds(20));
  prof::set_thread_task_label(before);
  // 1: not under the child's tid (the parent's was used); 2: the cached read disagrees.
  EXPECT_TRUE(out.exited_with(0)) << out.describe();
}

TEST(Executor, Deadline_CancelsOverrunningCooperativeTaskAndReportsIt) {
  std::mutex mu;
  std::vector<TaskInfo> reported;
  Executor ex({.name = "bounded",
               .workers = 3,
               .default_deadline = 50ms,
               .on_deadline_exceeded = [&](const TaskInfo& t) {
                 std::lock_guard lock(mu);
                 reported.push_back(t);
               }});
  std::atomic<bool> spinner_saw_stop{false};
  TaskHandle spinner = ex.spawn("spinner", [&](std::stop_token stop) {
    while (!stop.stop_requested()) std::this_thread::sleep_for(1ms);
    spinner_saw_stop = true;
  });
  Gate never;  // nobody opens it: only the deadline ends this wait
  std::atomic<bool> waiter_result{true};
  TaskHandle waiter = ex.spawn("waiter", [&] { waiter_result = never.wait("reply that never comes"); });
  TaskHandle quick = ex.spawn("quick", [] {});
  ASSERT_TRUE(spinner.join_for(10s));
  ASSERT_TRUE(waiter.join_for(10s));
  ASSERT_TRUE(quick.join_for(10s));
  EXPECT_TRUE(spinner_saw_stop);
  EXPECT_FALSE(waiter_result);
  EXPECT_EQ(ex.stats().deadline_exceeded, 2u);
  std::lock_guard lock(mu);
  ASSERT_EQ(reported.size(), 2u);
  for (const TaskInfo& t : reported) {
    EXPECT_TRUE(t.deadline_exceeded);
    EXPECT_TRUE(t.stop_requested);
    EXPECT_TRUE(t.id == spinner.id() || t.id == waiter.id()) << t.name;
    EXPECT_GE(t.deadline - t.started, 50ms);
  }
}

TEST(Executor, SpawnOptionsDeadline_OverridesDefaultAndAppliesToDetached) {
  Gate never;
  std::atomic<int> result{-1};
  TaskHandle h = spawn_detached("detached-waiter", [&] { result = never.wait("never") ? 1 : 0; },
                                SpawnOptions{.deadline = 30ms});
  ASSERT_TRUE(h.join_for(10s));
  EXPECT_EQ(result, 0);
  // A negative deadline disables the executor's default.
  Executor ex({.name = "no-deadline", .workers = 1, .default_deadline = 10ms});
  std::atomic<bool> stopped{false};
  TaskHandle t = ex.spawn("exempt", [&](std::stop_token s) {
    std::this_thread::sleep_for(60ms);
    stopped = s.stop_requested();
  }, SpawnOptions{.deadline = -1ms});
  t.join();
  EXPECT_FALSE(stopped);
  EXPECT_EQ(ex.stats().deadline_exceeded, 0u);
}

TEST(Executor, TrySpawn_RefusesWhenQueueFull) {
  Gate gate;
  Executor ex({.name = "tiny", .workers = 1, .queue_capacity = 1});
  TaskHandle running = ex.spawn("running", [&] { gate.wait("gate"); });
  ASSERT_TRUE(eventually([] { return test::blocked_named("running") == 1; }));
  auto queued = ex.try_spawn("queued", [] {});
  ASSERT_TRUE(queued.has_value());
  EXPECT_EQ(queued->info().state, TaskState::kQueued);
  EXPECT_FALSE(ex.try_spawn("refused", [] {}).has_value());
  EXPECT_EQ(ex.stats().rejected, 1u);
  gate.open();
  queued->join();
  running.join();
}

TEST(Executor, Shutdown_StopsTasksAndRejectsNewOnes) {
  Executor ex({.name = "closing", .workers = 2});
  Gate never;
  std::atomic<int> cancelled{0};
  for (int i = 0; i < 2; ++i) ex.spawn("stuck", [&] { cancelled += never.wait("never") ? 0 : 1; });
  ASSERT_TRUE(eventually([] { return test::blocked_named("stuck") == 2; }));
  EXPECT_EQ(ex.shutdown(), 0u);
  EXPECT_EQ(cancelled, 2);
  EXPECT_FALSE(ex.spawn("late", [] {}).valid());
}

TEST(Waits, FutureAndSemaphore_RecordWaitObjectAndReason) {
  std::promise<int> promise;
  std::shared_future<int> fut = promise.get_future().share();
  std::counting_semaphore<4> sem(0);
  TaskHandle f = spawn_detached("future-waiter", [fut] { wait(fut, "future from X"); });
  TaskHandle s = spawn_detached("sem-waiter", [&sem] { acquire(sem, "token"); });
  ASSERT_TRUE(eventually([] { return test::blocked_named("future-waiter") == 1 && test::blocked_named("sem-waiter") == 1; }));
  const TaskInfo fi = *TaskRegistry::instance().find(f.id());
  EXPECT_EQ(fi.blocking_reason, "future from X");
  EXPECT_EQ(fi.wait_object, wait_object_address(fut));
  EXPECT_NE(fi.wait_object, reinterpret_cast<std::uintptr_t>(&fut));  // the shared state, not the handle
  EXPECT_EQ(fi.executor, "detached");
  const TaskInfo si = *TaskRegistry::instance().find(s.id());
  EXPECT_EQ(si.wait_object, reinterpret_cast<std::uintptr_t>(&sem));
  promise.set_value(1);
  sem.release();
  f.join();
  s.join();
}

TEST(Waits, NestedBlockingScopes_RestoreOuterReason) {
  std::atomic<int> phase{0};
  std::string inner, outer_after;
  TaskHandle h = spawn_detached("nested", [&] {
    auto outer = blocking("outer");
    {
      auto in = blocking("inner", &phase);
      inner = TaskRegistry::instance().find(this_task::id())->blocking_reason;
    }
    outer_after = TaskRegistry::instance().find(this_task::id())->blocking_reason;
  });
  h.join();
  EXPECT_EQ(inner, "inner");
  EXPECT_EQ(outer_after, "outer");
}

// The reason is held in the record: a wait allocates nothing (the heap
// counters of this process, read inside the task, do not move across the
// scope), and a reason longer than the record holds is cut at a UTF-8
// character boundary (95 bytes of two-byte characters: 94 bytes, 47 whole
// characters), so the profiles' JSON stays valid.
TEST(Waits, BlockingReason_HeldInTheRecord_NoAllocationAndCutAtACharacter) {
  std::uint64_t allocations_in_scope = 1;
  std::string short_reason, long_reason;
  std::string accented;
  for (int i = 0; i < 60; ++i) accented += "\xc3\xa9";  // 120 bytes of U+00E9
  TaskHandle h = spawn_detached("reasons", [&] {
    const std::uint64_t before = prof::HeapProfiler::counters().allocated_objects;
    {
      auto b = blocking("a reason of thirty bytes long");  // a 31-byte string block before
      allocations_in_scope = prof::HeapProfiler::counters().allocated_objects - before;
    }
    {
      auto b = blocking("reply from backend");
      short_reason = TaskRegistry::instance().find(this_task::id())->blocking_reason;
    }
    auto b = blocking(accented);
    long_reason = TaskRegistry::instance().find(this_task::id())->blocking_reason;
  });
  h.join();
  // (The sanitizer builds have no interposers to count with.)
  if (prof::HeapProfiler::hooks_installed()) {
    EXPECT_EQ(allocations_in_scope, 0u);
  }
  EXPECT_EQ(short_reason, "reply from backend");
  EXPECT_EQ(long_reason, accented.substr(0, 94));
}

TEST(Tasks, ParentAndThisTask_AreRecorded) {
  TaskId outer_id = 0;
  TaskId child_parent = 0;
  TaskHandle h = spawn_detached("parent", [&] {
    outer_id = this_task::id();
    TaskHandle child = spawn_detached("child", [] {});
    child_parent = child.info().parent;
    child.join();
  });
  h.join();
  EXPECT_EQ(outer_id, h.id());
  EXPECT_EQ(child_parent, h.id());
  EXPECT_EQ(this_task::id(), 0u);
  EXPECT_FALSE(this_task::stop_token().stop_possible());
}

TEST(GoroutineProfile, TextForms_ShowTasksReasonsAndSites) {
  Gate gate;
  Executor ex({.name = "profiled", .workers = 4});
  std::vector<TaskHandle> handles;
  for (int i = 0; i < 2; ++i) handles.push_back(spawn_from_site_a(ex, gate));
  ASSERT_TRUE(eventually([] { return test::blocked_named("site-a") == 2; }));

  EXPECT_EQ(goroutine_profile_text(0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(goroutine_profile_text(3).status().code(), absl::StatusCode::kInvalidArgument);
  const std::string d1 = *goroutine_profile_text(1);
  EXPECT_EQ(d1.rfind("goroutine profile: total ", 0), 0u) << d1;
  // Both tasks are counted under records labelled with their reason (the
  // compiler may unroll the spawning loop into two call sites, so they may
  // or may not share one record).
  std::size_t counted = 0;
  std::istringstream lines(d1);
  std::string line, last_count;
  while (std::getline(lines, line)) {
    if (line.find(" @ 0x") != std::string::npos) last_count = line.substr(0, line.find(' '));
    if (line.rfind("# labels:", 0) == 0 && line.find("\"reply from A\"") != std::string::npos) {
      counted += std::stoul(last_count);
    }
  }
  EXPECT_EQ(counted, 2u) << d1;
  EXPECT_NE(d1.find("\"reason\":\"reply from A\""), std::string::npos) << d1;
  EXPECT_NE(d1.find("spawn_from_site_a"), std::string::npos) << d1;  // symbolized spawn stack
  EXPECT_NE(d1.find("\"kind\":\"thread\""), std::string::npos) << d1;

  const std::string d2 = *goroutine_profile_text(2);
  EXPECT_NE(d2.find("\"site-a\" [blocked: reply from A, "), std::string::npos) << d2;
  EXPECT_NE(d2.find("created by "), std::string::npos) << d2;
  EXPECT_NE(d2.find("waiting on 0x"), std::string::npos) << d2;
  gate.open();
  for (auto& h : handles) h.join();
}

}  // namespace
}  // namespace syncscope::task
