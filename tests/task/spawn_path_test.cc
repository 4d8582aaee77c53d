// The protocols the spawn path relies on: join racing with the task's
// finish (no lock on the finishing side unless a joiner waits) and
// registration without a lock (records reach the registry through each
// shard's arrivals stack).
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "syncscope/prof/task_labels.h"
#include "syncscope/task/task.h"
#include "task_test_util.h"

namespace syncscope::task {
namespace {

using namespace std::chrono_literals;

#if defined(SYNCSCOPE_TSAN)
constexpr int kRounds = 300;
#else
constexpr int kRounds = 3000;
#endif

// Each round joins a task that is usually still running when the join
// starts: the join returns with the task done and its effects visible (the
// finishing side takes no lock unless a joiner counted itself; TSan checks
// the pairing here). Overlap is asserted: rounds whose join found the task
// not yet done are counted. A lost wake-up is a hang, checked without a
// timeout in spawn_join_test.cc.
TEST(SpawnPath, JoinRacingWithFinish_SeesTheTaskDoneAndItsEffects) {
  Executor ex({.name = "joinrace", .workers = 2});
  constexpr int kAdds = 200;
  constexpr int kSum = kAdds * (kAdds - 1) / 2;
  int raced = 0, unfinished = 0, wrong_sum = 0;
  for (int i = 0; i < kRounds; ++i) {
    int sum = 0;  // plain int: the join must order the task's writes before our read
    TaskHandle h = ex.spawn("short", [&sum] {
      for (int k = 0; k < kAdds; ++k) sum += k;
    });
    raced += h.done() ? 0 : 1;
    if (!h.join_for(60s) || !h.done()) {
      ++unfinished;
      break;
    }
    wrong_sum += sum == kSum ? 0 : 1;
  }
  EXPECT_EQ(unfinished, 0);
  EXPECT_EQ(wrong_sum, 0);
  EXPECT_GE(raced, 1) << "no join started before its task finished";
}

// Spawners register concurrently while this thread lists the registry:
// every listing has unique ids, and once all are spawned (blocked on a
// gate) the registry lists each exactly once. Overlap is asserted: listings
// during which the spawned count moved are counted, and the spawners go on
// (up to kMaxPerSpawner) until one such listing was seen.
TEST(SpawnPath, ConcurrentRegistrations_AreListedExactlyOnce) {
  constexpr int kSpawners = 3;
  constexpr int kPerSpawner = 150;
  constexpr int kMaxPerSpawner = 3000;
  test::Gate gate;
  Executor ex({.name = "regrace", .workers = 2, .queue_capacity = kSpawners * kMaxPerSpawner});
  std::atomic<bool> overlap_seen{false};
  std::atomic<int> spawners_done{0};
  std::vector<std::thread> spawners;
  std::vector<std::vector<TaskHandle>> handles(kSpawners);
  for (int t = 0; t < kSpawners; ++t) {
    spawners.emplace_back([&, t] {
      // relaxed: a stop hint; the handles are read after join().
      for (int i = 0; i < kMaxPerSpawner && (i < kPerSpawner || !overlap_seen.load(std::memory_order_relaxed)); ++i) {
        handles[t].push_back(ex.spawn("registered", [&gate] { gate.wait("gate"); }));
      }
      spawners_done.fetch_add(1, std::memory_order_release);  // release: pairs with the acquire below
    });
  }
  int overlapping = 0, duplicates = 0;
  while (spawners_done.load(std::memory_order_acquire) < kSpawners) {
    const std::uint64_t before = TaskRegistry::instance().total_spawned();
    std::set<TaskId> ids;
    for (const TaskInfo& info : TaskRegistry::instance().live_tasks()) duplicates += ids.insert(info.id).second ? 0 : 1;
    if (TaskRegistry::instance().total_spawned() != before) {
      ++overlapping;
      overlap_seen.store(true, std::memory_order_relaxed);  // relaxed: see the spawners' loop
    }
  }
  for (std::thread& s : spawners) s.join();
  std::set<TaskId> expected;
  for (const auto& hs : handles) {
    for (const TaskHandle& h : hs) expected.insert(h.id());
  }
  std::multiset<TaskId> listed;
  for (const TaskInfo& info : TaskRegistry::instance().live_tasks()) {
    if (info.name == "registered") listed.insert(info.id);
  }
  gate.open();
  for (const auto& hs : handles) {
    for (const TaskHandle& h : hs) EXPECT_TRUE(h.join_for(10s));
  }
  EXPECT_EQ(duplicates, 0);
  std::size_t spawned = 0;
  for (const auto& hs : handles) spawned += hs.size();
  EXPECT_EQ(expected.size(), spawned);  // ids are unique
  EXPECT_GE(spawned, static_cast<std::size_t>(kSpawners * kPerSpawner));
  EXPECT_EQ(listed, std::multiset<TaskId>(expected.begin(), expected.end()));
  EXPECT_GE(overlapping, 1) << "no listing overlapped the spawners";
  for (const TaskInfo& info : TaskRegistry::instance().live_tasks()) EXPECT_NE(info.name, "registered");
}

// The runner's task label is looked up through a per-thread cache keyed by
// the site's identity and the name's content (its last answer checked
// inline). Names built in one reused buffer, at one site, on one worker,
// alternate between two texts of the same length (the inline check's
// case), and two of 20 and 3 bytes (the memo's): each task must run under
// the label of its own name, as prof's table maps it back, never under the
// previous task's.
TEST(SpawnPath, TaskLabelOfReusedNameBuffer_IsTheTasksOwnName) {
  Executor ex({.name = "labels", .workers = 1});
  const char* const names[] = {"alpha-task", "bravo-task", "a-name-of-twenty-by", "xyz"};
  constexpr int kRounds = 40;
  std::string buffer;  // one buffer for every name: the same address each spawn
  buffer.reserve(64);
  std::vector<TaskHandle> handles;
  std::vector<std::string> seen(kRounds);
  auto spawn_named = [&](int i) {  // one spawn site
    buffer.assign(names[i % 4]);
    handles.push_back(ex.spawn(buffer, [&seen, i] {
      const auto tid = static_cast<pid_t>(::syscall(SYS_gettid));
      std::string task, site;
      if (prof::task_label_strings(prof::thread_task_label(tid), &task, &site)) seen[i] = task;
    }));
  };
  for (int i = 0; i < kRounds; ++i) spawn_named(i);
  for (const TaskHandle& h : handles) ASSERT_TRUE(h.join_for(10s));
  int wrong = 0;
  for (int i = 0; i < kRounds; ++i) wrong += seen[i] == names[i % 4] ? 0 : 1;
  EXPECT_EQ(wrong, 0) << "e.g. task 1 ran labelled \"" << seen[1] << "\"";
}

}  // namespace
}  // namespace syncscope::task
