// Rendering of collected rings as Chrome trace-event JSON.
//
// Per thread track the renderer first turns the ring's events into slices
// (a begin matched with its end, or a whole slice: a task written when it
// ended, a spawn mark) and points (instants), then writes them ordered by
// time with each slice nested in the one that encloses it. It repairs what
// a ring buffer and a time window can break: an end whose begin is gone is
// dropped, a slice still open (and a task the registry lists as running)
// is closed at the snapshot instant (args.unfinished), a child that would
// outlast its parent is cut at the parent's end, and timestamps never go
// back. Counter samples from all threads are merged per counter name and
// sorted by time.
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "task/trace_buffer.h"

namespace syncscope::task::internal {
namespace {

using nlohmann::json;

double to_us(std::int64_t ns) { return static_cast<double>(ns) / 1000.0; }

std::string read_comm(const std::string& path, const char* fallback) {
  std::ifstream in(path);
  std::string name;
  std::getline(in, name);
  return name.empty() ? fallback : name;
}

std::string process_name() { return read_comm("/proc/self/comm", "syncscope"); }

struct CounterSample {
  std::int64_t ts;
  double value;
};

enum class Flow { kNone, kStart, kEnd };

// One item of a track: a slice [begin, end] or a point (an instant at begin).
struct Item {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  bool point = false;
  bool unfinished = false;  // closed at the snapshot instant
  std::string name;
  const char* cat = "";
  std::uint64_t id = 0;     // task id (args.task_id, flow id); 0 = none
  Flow flow = Flow::kNone;
  double value = 0;         // a point's args.value
  std::size_t seq = 0;      // ring order, the tie-break
};

class TrackRenderer {
 public:
  TrackRenderer(json& out, int pid, pid_t tid) : out_(out), pid_(pid), tid_(tid) {}

  void event(const TraceEvent& e, std::map<std::string, std::vector<CounterSample>>& counters) {
    const std::string name(event_name(e));
    switch (e.type) {
      case EventType::kSpawn:
        whole(e.ts_ns, e.ts_ns + e.slice.duration_ns, "spawn " + name, "spawn", e.id, Flow::kStart);
        counters[kLiveTasksTrack].push_back({e.ts_ns + e.slice.duration_ns, static_cast<double>(e.slice.live_tasks)});
        break;
      case EventType::kSpawnMark:
        break;  // drawn on the spawner's track (render_chrome_json)
      case EventType::kTask:
        whole(e.ts_ns, e.ts_ns + e.slice.duration_ns, name, "task", e.id, Flow::kEnd);
        counters[kLiveTasksTrack].push_back({e.ts_ns + e.slice.duration_ns, static_cast<double>(e.slice.live_tasks)});
        break;
      case EventType::kSpawnBegin:
        open(e.ts_ns, "spawn " + name, "spawn", e.id, Flow::kStart);
        break;
      case EventType::kTaskBegin:
        open(e.ts_ns, name, "task", e.id, Flow::kEnd);
        break;
      case EventType::kBlockBegin:
        open(e.ts_ns, "blocked: " + name, "blocking", 0, Flow::kNone);
        break;
      case EventType::kSpawnEnd:
      case EventType::kTaskEnd:
        close(e.ts_ns);
        counters[kLiveTasksTrack].push_back({e.ts_ns, e.value});
        break;
      case EventType::kBlockEnd:
        close(e.ts_ns);
        break;
      case EventType::kCounter:
        counters[name].push_back({e.ts_ns, e.value});
        break;
      case EventType::kInstant: {
        Item p;
        p.begin = p.end = e.ts_ns;
        p.point = true;
        p.name = name;
        p.cat = "event";
        p.value = e.value;
        add(std::move(p));
        break;
      }
    }
  }

  // A spawn's mark on this (the spawner's) track, from the task's event or
  // the registry's record: a zero-length "spawn <name>" slice with the flow
  // start.
  void spawn_mark(std::int64_t ts, std::uint64_t id, const std::string& task_name) {
    whole(ts, ts, "spawn " + task_name, "spawn", id, Flow::kStart);
  }

  // A task running at the snapshot instant (from the registry).
  void open_task(const OpenTask& t) {
    open(t.started_ns, t.name, "task", t.id, Flow::kEnd);
    open_.pop_back();  // closed by finish(), like the slices still open in the ring
    registry_open_.push_back(items_.size() - 1);
  }

  // Closes slices still open at the snapshot's end and writes the track.
  void finish(std::int64_t end_ns) {
    std::int64_t last = end_ns;
    for (const Item& it : items_) last = std::max({last, it.begin, it.end});
    for (std::size_t i : open_) close_item(items_[i], last, true);
    for (std::size_t i : registry_open_) close_item(items_[i], last, true);
    write();
  }

 private:
  void add(Item it) {
    it.seq = items_.size();
    items_.push_back(std::move(it));
  }
  void whole(std::int64_t begin, std::int64_t end, std::string name, const char* cat, std::uint64_t id, Flow flow) {
    Item it;
    it.begin = begin;
    it.end = std::max(begin, end);
    it.name = std::move(name);
    it.cat = cat;
    it.id = id;
    it.flow = flow;
    add(std::move(it));
  }
  void open(std::int64_t begin, std::string name, const char* cat, std::uint64_t id, Flow flow) {
    whole(begin, begin, std::move(name), cat, id, flow);
    open_.push_back(items_.size() - 1);
  }
  void close(std::int64_t ts) {
    if (open_.empty()) return;  // its begin was overwritten or before the window
    close_item(items_[open_.back()], ts, false);
    open_.pop_back();
  }
  static void close_item(Item& it, std::int64_t ts, bool unfinished) {
    it.end = std::max(it.begin, ts);
    it.unfinished = unfinished;
  }

  // Items by begin; at equal begins the longer (enclosing) one first, then
  // ring order. A sweep with a stack of open slices writes each slice's end
  // before the first item that begins at or after it.
  void write() {
    std::vector<Item*> order;
    order.reserve(items_.size());
    for (Item& it : items_) order.push_back(&it);
    std::sort(order.begin(), order.end(), [](const Item* a, const Item* b) {
      if (a->begin != b->begin) return a->begin < b->begin;
      if (a->point != b->point) return b->point;  // a slice encloses a point at its begin
      if (a->end != b->end) return a->end > b->end;
      return a->seq < b->seq;
    });
    std::vector<const Item*> stack;
    for (Item* it : order) {
      while (!stack.empty() && stack.back()->end <= it->begin) {
        end_slice(*stack.back());
        stack.pop_back();
      }
      if (it->point) {
        emit({{"ph", "i"}, {"s", "t"}, {"name", it->name}, {"cat", it->cat}, {"args", {{"value", it->value}}}},
             it->begin);
        continue;
      }
      if (!stack.empty()) it->end = std::min(it->end, stack.back()->end);  // nested: ends within its parent
      json args = json::object();
      if (it->id != 0) args["task_id"] = it->id;
      emit({{"ph", "B"}, {"name", it->name}, {"cat", it->cat}, {"args", std::move(args)}}, it->begin);
      if (it->flow == Flow::kStart) {
        emit({{"ph", "s"}, {"name", "spawn"}, {"cat", "task"}, {"id", it->id}}, it->begin);
      } else if (it->flow == Flow::kEnd) {
        emit({{"ph", "f"}, {"bp", "e"}, {"name", "spawn"}, {"cat", "task"}, {"id", it->id}}, it->begin);
      }
      stack.push_back(it);
    }
    while (!stack.empty()) {
      end_slice(*stack.back());
      stack.pop_back();
    }
  }
  void end_slice(const Item& it) {
    json e = {{"ph", "E"}};
    if (it.unfinished) e["args"] = {{"unfinished", true}};
    emit(std::move(e), it.end);
  }
  void emit(json e, std::int64_t ts) {
    last_ts_ = std::max(last_ts_, ts);  // never back (the sweep keeps order; this guards it)
    e["ts"] = to_us(last_ts_);
    e["pid"] = pid_;
    e["tid"] = tid_;
    out_.push_back(std::move(e));
  }

  json& out_;
  const int pid_;
  const pid_t tid_;
  std::vector<Item> items_;
  std::vector<std::size_t> open_;           // items_ indices: begins without their end yet, innermost last
  std::vector<std::size_t> registry_open_;  // items_ indices: running tasks from the registry
  std::int64_t last_ts_ = 0;
};

}  // namespace

std::string render_chrome_json(std::vector<RingCopy> rings, std::vector<OpenTask> open, std::int64_t end_ns) {
  const int pid = static_cast<int>(::getpid());
  json events = json::array();
  events.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", pid}, {"tid", 0},
                    {"args", {{"name", process_name()}}}});
  std::map<std::string, std::vector<CounterSample>> counters;
  // What the rings hold, by task id: the task's own slice (then it is not
  // drawn as open), its name (for its spawn mark), a spawn slice of its own
  // (a spawn that waited or was refused: no mark then), a mark.
  std::set<std::uint64_t> task_in_rings, spawn_in_rings, mark_in_rings;
  std::map<std::uint64_t, std::string> names;
  for (const RingCopy& ring : rings) {
    for (const TraceEvent& e : ring.events) {
      switch (e.type) {
        case EventType::kTask:
        case EventType::kTaskBegin:
          names[e.id] = std::string(event_name(e));
          task_in_rings.insert(e.id);
          break;
        case EventType::kTaskEnd:
          task_in_rings.insert(e.id);
          break;
        case EventType::kSpawn:
        case EventType::kSpawnBegin:
          spawn_in_rings.insert(e.id);
          break;
        case EventType::kSpawnMark:
          mark_in_rings.insert(e.id);
          break;
        default:
          break;
      }
    }
  }
  for (const OpenTask& t : open) names.emplace(t.id, t.name);
  auto name_of = [&](std::uint64_t id) {
    auto it = names.find(id);
    return it != names.end() ? it->second : "task " + std::to_string(id);
  };
  // Tracks by tid. Several rings may share a tid (a cleared generation);
  // they feed one track. A track may also have no ring (a running task's
  // or a spawner's thread that wrote nothing since the trace was cleared).
  std::map<pid_t, TrackRenderer> tracks;
  std::map<pid_t, std::string> thread_names;
  auto track = [&](pid_t tid) -> TrackRenderer& {
    return tracks.try_emplace(tid, events, pid, tid).first->second;
  };
  std::stable_sort(rings.begin(), rings.end(), [](const RingCopy& a, const RingCopy& b) { return a.tid < b.tid; });
  for (const RingCopy& ring : rings) {
    thread_names.emplace(ring.tid, ring.thread_name);
    TrackRenderer& own = track(ring.tid);
    for (const TraceEvent& e : ring.events) {
      if (e.type != EventType::kSpawnMark) {
        own.event(e, counters);
        continue;
      }
      if (spawn_in_rings.count(e.id) != 0) continue;
      track(static_cast<pid_t>(e.mark.spawner_tid)).spawn_mark(e.ts_ns, e.id, name_of(e.id));
      counters[kLiveTasksTrack].push_back({e.ts_ns, static_cast<double>(e.mark.live_tasks)});
    }
  }
  for (const OpenTask& t : open) {
    if (task_in_rings.count(t.id) != 0) continue;  // drawn whole from its events
    if (t.tid != 0) track(t.tid).open_task(t);
    if (t.spawner_tid != 0 && mark_in_rings.count(t.id) == 0 && spawn_in_rings.count(t.id) == 0) {
      track(t.spawner_tid).spawn_mark(t.created_ns, t.id, t.name);
      counters[kLiveTasksTrack].push_back({t.created_ns, static_cast<double>(t.spawn_live)});
    }
  }
  for (auto& [tid, renderer] : tracks) {
    auto name = thread_names.find(tid);
    events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", pid}, {"tid", tid},
                      {"args", {{"name", name != thread_names.end()
                                             ? name->second
                                             : read_comm("/proc/self/task/" + std::to_string(tid) + "/comm", "")}}}});
    renderer.finish(end_ns);
  }
  for (auto& [name, samples] : counters) {
    std::stable_sort(samples.begin(), samples.end(),
                     [](const CounterSample& a, const CounterSample& b) { return a.ts < b.ts; });
    for (const CounterSample& s : samples) {
      events.push_back({{"ph", "C"}, {"name", name}, {"pid", pid}, {"tid", 0}, {"ts", to_us(s.ts)},
                        {"args", {{"value", s.value}}}});
    }
  }
  json doc = {{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}};
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace syncscope::task::internal
