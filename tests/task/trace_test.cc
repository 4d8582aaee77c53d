// The Chrome trace: it parses, every begin has its end, timestamps never go
// back on a track, and the expected slices, flows, counters and map events
// are present; the ring wraps, windows and triggers behave.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include <unistd.h>

#include "syncscope/map/map_events.h"
#include "syncscope/prof/heap_profiler.h"
#include "syncscope/task/task.h"
#include "task_test_util.h"

namespace syncscope::task {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// Checks the structural invariants; returns the parsed events.
json validate(const std::string& text) {
  json doc = json::parse(text);  // throws (fails the test) on malformed JSON
  EXPECT_TRUE(doc.contains("traceEvents"));
  const json& events = doc["traceEvents"];
  EXPECT_TRUE(events.is_array());
  std::map<std::pair<int, int>, int> depth;        // (pid, tid) -> open slices
  std::map<std::pair<int, int>, double> last_ts;   // per thread track
  std::map<std::string, double> counter_ts;        // per counter track
  for (const json& e : events) {
    const std::string ph = e.at("ph");
    if (ph == "M") continue;
    const double ts = e.at("ts");
    if (ph == "C") {
      const std::string name = e.at("name");
      EXPECT_GE(ts, counter_ts[name]) << "counter " << name;
      counter_ts[name] = ts;
      continue;
    }
    const auto track = std::make_pair(e.at("pid").get<int>(), e.at("tid").get<int>());
    EXPECT_GE(ts, last_ts[track]) << e.dump();
    last_ts[track] = ts;
    if (ph == "B") ++depth[track];
    if (ph == "E") {
      EXPECT_GT(depth[track], 0) << "end without begin on tid " << track.second;
      --depth[track];
    }
  }
  for (const auto& [track, d] : depth) EXPECT_EQ(d, 0) << "unclosed slices on tid " << track.second;
  return doc;
}

std::vector<json> find_all(const json& doc, std::string_view ph, std::string_view name) {
  std::vector<json> out;
  for (const json& e : doc["traceEvents"]) {
    if (e.at("ph") == ph && (name.empty() || e.value("name", "") == name)) out.push_back(e);
  }
  return out;
}

class TraceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    clear_trace();
    // These tests write the "live heap bytes" track themselves: the
    // recorder's own sampler of that track stays off.
    start_tracing({.heap_counter_interval = 0ms});
  }
  void TearDown() override {
    stop_tracing();
    clear_counter_triggers();
    clear_trace();
  }
};

TEST_F(TraceTest, Snapshot_HasSlicesFlowsCountersAndMapEvents) {
  Executor ex({.name = "traced", .workers = 2});
  TaskHandle outer = ex.spawn("outer-task", [&] {
    {
      auto b = blocking("waiting in trace test");
      std::this_thread::sleep_for(2ms);
    }
    TaskHandle inner = spawn_detached("inner-task", [] { std::this_thread::sleep_for(1ms); });
    inner.join();
  });
  outer.join();
  record_counter("live heap bytes", 1024);
  record_counter("live heap bytes", 4096);
  map::emit_map_event({map::MapEventKind::kPromotion, "test-map", 42});
  record_instant("checkpoint", "after tasks");

  const json doc = validate(trace_snapshot_json());
  const auto outer_b = find_all(doc, "B", "outer-task");
  ASSERT_EQ(outer_b.size(), 1u);
  const int worker_tid = outer_b[0].at("tid");
  EXPECT_EQ(outer_b[0]["args"]["task_id"], outer.id());
  // The blocking slice sits on the worker's track, inside the task slice.
  const auto blocked = find_all(doc, "B", "blocked: waiting in trace test");
  ASSERT_EQ(blocked.size(), 1u);
  EXPECT_EQ(blocked[0].at("tid"), worker_tid);
  // join() blocks too, and is traced as such.
  EXPECT_FALSE(find_all(doc, "B", "blocked: join task inner-task").empty());
  // Flows: spawner -> task, matched by id, for both tasks.
  for (TaskId id : {outer.id()}) {
    int starts = 0, ends = 0;
    for (const json& e : find_all(doc, "s", "spawn")) starts += e.at("id") == id;
    for (const json& e : find_all(doc, "f", "spawn")) ends += e.at("id") == id;
    EXPECT_EQ(starts, 1);
    EXPECT_EQ(ends, 1);
  }
  const auto inner_spawn = find_all(doc, "B", "spawn inner-task");
  ASSERT_EQ(inner_spawn.size(), 1u);
  EXPECT_EQ(inner_spawn[0].at("tid"), worker_tid);  // spawned from inside outer-task
  const auto inner_b = find_all(doc, "B", "inner-task");
  ASSERT_EQ(inner_b.size(), 1u);
  EXPECT_NE(inner_b[0].at("tid"), worker_tid);      // ran on its own thread
  EXPECT_FALSE(find_all(doc, "C", "live tasks").empty());
  const auto heap = find_all(doc, "C", "live heap bytes");
  ASSERT_EQ(heap.size(), 2u);
  EXPECT_EQ(heap[1]["args"]["value"], 4096.0);
  const auto promo = find_all(doc, "i", "map promotion: test-map");
  ASSERT_EQ(promo.size(), 1u);
  EXPECT_EQ(promo[0]["args"]["value"], 42.0);
  EXPECT_EQ(find_all(doc, "i", "checkpoint: after tasks").size(), 1u);
  // Thread names are attached to tracks.
  bool worker_named = false;
  for (const json& m : find_all(doc, "M", "thread_name")) {
    if (m.at("tid") == worker_tid) worker_named = m["args"]["name"].get<std::string>().rfind("traced-", 0) == 0;
  }
  EXPECT_TRUE(worker_named);
}

// A spawn is one event (issue 16, item 5): its slice, its flow start and
// a "live tasks" sample. The samples count exactly the tasks alive then:
// five tasks held on a gate are counted 1..5 above the base at their
// spawns, and 4..0 above it at their ends.
TEST_F(TraceTest, LiveTasksSamples_CountTheTasksAtEachSpawnAndEnd) {
  const std::size_t base = TaskRegistry::instance().live_count();
  constexpr int kTasks = 5;
  test::Gate gate;
  std::vector<TaskHandle> handles;
  {
    Executor ex({.name = "counted", .workers = kTasks});
    for (int i = 0; i < kTasks; ++i) handles.push_back(ex.spawn("counted", [&] { gate.wait("held"); }));
    ASSERT_TRUE(test::eventually([] { return test::blocked_named("counted") == kTasks; }));
    gate.open();
    for (const TaskHandle& h : handles) h.join();
  }
  ASSERT_EQ(TaskRegistry::instance().live_count(), base);  // no other task came or went meanwhile
  const json doc = validate(trace_snapshot_json());
  std::multiset<double> values;
  for (const json& c : find_all(doc, "C", "live tasks")) values.insert(c["args"]["value"].get<double>());
  for (int k = 1; k <= kTasks; ++k) {
    // Once at the k-th spawn, once when a task ended leaving k - 1 more than base.
    EXPECT_GE(values.count(static_cast<double>(base + k)), k == kTasks ? 1u : 2u) << k;
  }
  EXPECT_GE(values.count(static_cast<double>(base)), 1u);
  EXPECT_EQ(values.count(static_cast<double>(base + kTasks + 1)), 0u);
  EXPECT_EQ(find_all(doc, "B", "spawn counted").size(), static_cast<std::size_t>(kTasks));
  EXPECT_EQ(find_all(doc, "s", "spawn").size(), static_cast<std::size_t>(kTasks));
  EXPECT_EQ(find_all(doc, "f", "spawn").size(), static_cast<std::size_t>(kTasks));
}

// A spawn that waits for queue room keeps its wait inside its slice on the
// spawner's track: spawn begin, blocked begin, blocked end, spawn end.
TEST_F(TraceTest, SpawnWaitingForRoom_NestsTheWaitInsideTheSpawnSlice) {
  test::Gate gate;
  Executor ex({.name = "narrow", .workers = 1, .queue_capacity = 1});
  TaskHandle running = ex.spawn("occupies worker", [&] { gate.wait("held"); });
  ASSERT_TRUE(test::eventually([] { return test::blocked_named("occupies worker") == 1; }));
  TaskHandle queued = ex.spawn("fills queue", [] {});
  // The third spawn waits for room; made from a task, so its wait shows.
  Executor spawner({.name = "spawner", .workers = 1});
  TaskHandle waiting_spawner = spawner.spawn("spawner", [&] { ex.spawn("waited for room", [] {}); });
  ASSERT_TRUE(test::eventually([] {
    for (const TaskInfo& t : TaskRegistry::instance().live_tasks()) {
      if (t.name == "spawner" && t.blocking_reason == "executor queue full: narrow") return true;
    }
    return false;
  }));
  gate.open();
  waiting_spawner.join();
  running.join();
  queued.join();
  ex.shutdown();
  const json doc = validate(trace_snapshot_json());
  const auto spawn_b = find_all(doc, "B", "spawn waited for room");
  ASSERT_EQ(spawn_b.size(), 1u);
  const int tid = spawn_b[0].at("tid");
  std::vector<std::string> sequence;  // B/E on the spawner's track from the spawn's begin on
  bool in_spawn = false;
  for (const json& e : doc["traceEvents"]) {
    if (e.at("ph") == "M" || e.at("tid") != tid) continue;
    if (e.at("ph") == "B" && e.value("name", "") == "spawn waited for room") in_spawn = true;
    if (!in_spawn || (e.at("ph") != "B" && e.at("ph") != "E")) continue;
    sequence.push_back(e.at("ph").get<std::string>() + (e.at("ph") == "B" ? " " + e.value("name", "") : ""));
    if (sequence.size() == 4) break;
  }
  const std::vector<std::string> expected = {"B spawn waited for room", "B blocked: executor queue full: narrow",
                                             "E", "E"};
  EXPECT_EQ(sequence, expected);
}

TEST_F(TraceTest, RunningTaskAtSnapshot_IsClosedAsUnfinished) {
  test::Gate gate;
  TaskHandle h = spawn_detached("still-running", [&] { gate.wait("held open"); });
  ASSERT_TRUE(test::eventually([] { return test::blocked_named("still-running") == 1; }));
  const json doc = validate(trace_snapshot_json());
  int unfinished = 0;
  for (const json& e : find_all(doc, "E", "")) unfinished += e.contains("args") && e["args"].value("unfinished", false);
  EXPECT_GE(unfinished, 2);  // the task slice and its blocked slice
  gate.open();
  h.join();
}

// A task's slice is written once, when it ends; a task still running is
// drawn from the registry at snapshot time. A task that started while
// tracing was off (no event of it in any ring) shows as one slice on its
// worker's track, beginning at its start time (oracle: the registry's
// TaskInfo) and ending at the snapshot with args.unfinished; its wait
// begun while tracing is on nests inside it.
TEST_F(TraceTest, RunningTaskStartedBeforeTracing_IsAnOpenSliceFromItsStart) {
  stop_tracing();
  clear_trace();
  test::Gate started_gate;
  test::Gate gate;
  TaskHandle h = spawn_detached("began untraced", [&] {
    started_gate.wait("before tracing");
    gate.wait("held open");
  });
  ASSERT_TRUE(test::eventually([] { return test::blocked_named("began untraced") == 1; }));
  start_tracing({.heap_counter_interval = 0ms});
  started_gate.open();
  ASSERT_TRUE(test::eventually([&] { return h.info().blocking_reason == "held open"; }));
  const TaskInfo info = h.info();
  const json doc = validate(trace_snapshot_json());
  const auto begins = find_all(doc, "B", "began untraced");
  ASSERT_EQ(begins.size(), 1u);
  EXPECT_EQ(begins[0].at("tid").get<int>(), info.thread_id);
  EXPECT_EQ(begins[0]["args"]["task_id"], h.id());
  const double started_us =
      static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(info.started.time_since_epoch()).count()) /
      1000.0;
  EXPECT_DOUBLE_EQ(begins[0].at("ts").get<double>(), started_us);
  // On its track: the task's begin, the wait's begin, then both ends, the
  // task's last, each marked unfinished.
  std::vector<json> track;
  for (const json& e : doc["traceEvents"]) {
    if (e.at("ph") != "M" && e.contains("tid") && e.at("tid") == info.thread_id &&
        (e.at("ph") == "B" || e.at("ph") == "E")) {
      track.push_back(e);
    }
  }
  ASSERT_EQ(track.size(), 4u) << doc.dump();
  EXPECT_EQ(track[0].value("name", ""), "began untraced");
  EXPECT_EQ(track[1].value("name", ""), "blocked: held open");
  for (int k : {2, 3}) {
    EXPECT_EQ(track[k].at("ph"), "E");
    EXPECT_TRUE(track[k].contains("args") && track[k]["args"].value("unfinished", false)) << track[k].dump();
  }
  EXPECT_EQ(find_all(doc, "f", "spawn").size(), 1u);  // the flow's end binds to the task's begin
  gate.open();
  h.join();
  // Once finished, the task is drawn from its ring event, whole: one slice,
  // closed at its end, not unfinished.
  const json after = validate(trace_snapshot_json());
  ASSERT_EQ(find_all(after, "B", "began untraced").size(), 1u);
  int unfinished = 0;
  for (const json& e : find_all(after, "E", "")) unfinished += e.contains("args") && e["args"].value("unfinished", false);
  EXPECT_EQ(unfinished, 0);
}

double to_trace_us(Clock::time_point t) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count()) /
         1000.0;
}

// A spawn writes no event: its mark travels with the task's own event, so
// the marks of tasks not yet finished come from the registry. With one
// task running (held) and one queued behind it, both marks are on the
// spawning thread's track at the tasks' creation times (oracle: TaskInfo),
// each with its flow start, and the running task's slice is open.
TEST_F(TraceTest, SpawnMarksOfUnfinishedTasks_AreTakenFromTheRegistry) {
  test::Gate gate;
  Executor ex({.name = "marks", .workers = 1});
  TaskHandle running = ex.spawn("held task", [&] { gate.wait("held"); });
  ASSERT_TRUE(test::eventually([] { return test::blocked_named("held task") == 1; }));
  TaskHandle queued = ex.spawn("queued task", [] {});
  const json doc = validate(trace_snapshot_json());
  const int spawner_tid = static_cast<int>(::gettid());
  for (const TaskHandle* h : {&running, &queued}) {
    const TaskInfo info = h->info();
    const auto marks = find_all(doc, "B", "spawn " + info.name);
    ASSERT_EQ(marks.size(), 1u) << info.name;
    EXPECT_EQ(marks[0].at("tid").get<int>(), spawner_tid);
    EXPECT_EQ(marks[0]["args"]["task_id"], h->id());
    EXPECT_DOUBLE_EQ(marks[0].at("ts").get<double>(), to_trace_us(info.created));
    int starts = 0;
    for (const json& e : find_all(doc, "s", "spawn")) starts += e.at("id") == h->id();
    EXPECT_EQ(starts, 1) << info.name;
  }
  EXPECT_EQ(find_all(doc, "B", "held task").size(), 1u);
  EXPECT_TRUE(find_all(doc, "B", "queued task").empty());  // not started: no slice yet
  gate.open();
  running.join();
  queued.join();
}

// Task names of every length up to past the kept maximum come out of the
// ring as written (truncated to kTraceNameMax bytes): the names are copied
// into the event by length classes, each of which is exercised here.
TEST_F(TraceTest, TaskNamesOfEveryLength_AreKeptUpToTheMaximum) {
  const std::string letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::map<TaskId, std::string> expected;
  {
    Executor ex({.name = "names", .workers = 1});
    for (std::size_t len = 1; len <= kTraceNameMax + 4; ++len) {
      const std::string name = letters.substr(0, len);
      TaskHandle h = ex.spawn(name, [] {});
      expected[h.id()] = name.substr(0, kTraceNameMax);
      h.join();
    }
  }
  const json doc = validate(trace_snapshot_json());
  std::map<TaskId, std::string> seen;
  for (const json& e : find_all(doc, "B", "")) {
    if (e.value("cat", "") == "task") seen[e["args"]["task_id"].get<TaskId>()] = e.value("name", "");
  }
  EXPECT_EQ(seen, expected);
}

TEST_F(TraceTest, RingWrap_KeepsTheNewestAndStaysBalanced) {
  stop_tracing();
  clear_trace();
  start_tracing({.events_per_thread = 64});
  Executor ex({.name = "wrap", .workers = 1});
  for (int i = 0; i < 300; ++i) ex.spawn("wrapped", [] { auto b = blocking("tiny wait"); });
  ex.shutdown();
  EXPECT_GT(trace_stats().events_overwritten, 0u);
  const json doc = validate(trace_snapshot_json());
  EXPECT_FALSE(find_all(doc, "B", "wrapped").empty());
}

// Each check holds whatever the machine's load: the old event is waited out
// on the clock, and the new one is required only from a snapshot that the
// clock proves was taken within the window of it (a stalled attempt proves
// nothing and is retried, a bounded number of times).
TEST_F(TraceTest, Window_DropsOlderEvents) {
  constexpr auto kWindow = 100ms;
  record_instant("old-event");
  const Clock::time_point old_recorded = Clock::now();  // the event's time is earlier
  while (Clock::now() - old_recorded <= kWindow) std::this_thread::sleep_for(10ms);
  int proven = 0;
  for (int attempt = 0; attempt < 20 && proven == 0; ++attempt) {
    const std::string name = "new-event-" + std::to_string(attempt);
    const Clock::time_point new_recorded = Clock::now();  // the event's time is later
    record_instant(name);
    const json doc = validate(trace_snapshot_json(kWindow));
    const Clock::time_point taken = Clock::now();  // the snapshot's "now" is earlier
    EXPECT_TRUE(find_all(doc, "i", "old-event").empty());
    if (taken - new_recorded > kWindow) continue;  // stalled: the new event may have aged out
    EXPECT_EQ(find_all(doc, "i", name).size(), 1u) << name;
    ++proven;
  }
  EXPECT_EQ(proven, 1) << "every attempt stalled for longer than the window";
}

TEST_F(TraceTest, TraceFor_RecordsThatIntervalThenRestoresState) {
  stop_tracing();
  record_instant("before");  // tracing off: not recorded
  std::atomic<bool> stop{false};
  std::thread bg([&] {
    while (!stop) {
      spawn_detached("bg", [] {}).join();
      std::this_thread::sleep_for(1ms);
    }
  });
  const json doc = validate(trace_for(150ms));
  stop = true;
  bg.join();
  EXPECT_FALSE(tracing_enabled());
  EXPECT_TRUE(find_all(doc, "i", "before").empty());
  EXPECT_FALSE(find_all(doc, "B", "bg").empty());
}

TEST_F(TraceTest, CounterTrigger_SnapshotsOncePerCrossing) {
  std::mutex mu;
  std::vector<std::string> snaps;
  set_counter_trigger("live heap bytes", 1000, 10s, [&](const std::string& json) {
    std::lock_guard lock(mu);
    snaps.push_back(json);
  });
  record_counter("live heap bytes", 500);
  record_counter("live heap bytes", 1500);  // crosses: fires
  record_counter("live heap bytes", 2500);  // still above: no new fire
  auto count = [&] {
    std::lock_guard lock(mu);
    return snaps.size();
  };
  ASSERT_TRUE(test::eventually([&] { return count() == 1; }));
  record_counter("live heap bytes", 10);
  record_counter("live heap bytes", 1000);  // crosses again
  ASSERT_TRUE(test::eventually([&] { return count() == 2; }));
  clear_counter_triggers();
  EXPECT_EQ(count(), 2u);
  const json doc = validate(snaps[0]);
  EXPECT_FALSE(find_all(doc, "C", "live heap bytes").empty());
}

// The recorder draws the heap track itself (no caller feeds it): every
// sample is the heap profiler's live-byte counter, so with a block of
// kBlock bytes held throughout, every sample is at least kBlock.
TEST(TraceHeapTrack, RecorderSamplesLiveHeapBytes_WhileTracing) {
  constexpr std::size_t kBlock = 32u << 20;
  void* const block = std::malloc(kBlock);
  ASSERT_NE(block, nullptr);
  clear_trace();
  start_tracing({.heap_counter_interval = 10ms});
  json doc;
  if (prof::HeapProfiler::hooks_installed()) {
    ASSERT_TRUE(test::eventually([&] {
      doc = validate(trace_snapshot_json());
      return find_all(doc, "C", "live heap bytes").size() >= 3;
    })) << "no 'live heap bytes' track in the trace";
    for (const json& e : find_all(doc, "C", "live heap bytes")) {
      EXPECT_GE(e["args"]["value"].get<double>(), static_cast<double>(kBlock));
    }
  } else {
    // Without the allocation hooks (sanitizer builds) the counter would read
    // zero: no track rather than a false one, over 20 intervals.
    std::this_thread::sleep_for(200ms);
    doc = validate(trace_snapshot_json());
    EXPECT_TRUE(find_all(doc, "C", "live heap bytes").empty());
  }
  stop_tracing();
  clear_trace();
  std::free(block);
}

}  // namespace
}  // namespace syncscope::task
