// Rendering of collected rings as Chrome trace-event JSON.
//
// Per thread track the renderer repairs what a ring buffer and a time window
// can break: an end whose begin is gone is dropped, a slice still open is
// closed at the snapshot instant (args.unfinished), and timestamps are
// clamped non-decreasing. Counter samples from all threads are merged per
// counter name and sorted by time.
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "task/trace_buffer.h"

namespace syncscope::task::internal {
namespace {

using nlohmann::json;

double to_us(std::int64_t ns) { return static_cast<double>(ns) / 1000.0; }

std::string process_name() {
  std::ifstream in("/proc/self/comm");
  std::string name;
  std::getline(in, name);
  return name.empty() ? "syncscope" : name;
}

struct CounterSample {
  std::int64_t ts;
  double value;
};

class TrackRenderer {
 public:
  TrackRenderer(json& out, int pid, pid_t tid) : out_(out), pid_(pid), tid_(tid) {}

  void event(const TraceEvent& e, std::map<std::string, std::vector<CounterSample>>& counters) {
    last_ts_ = std::max(last_ts_, e.ts_ns);
    const std::string name(event_name(e));
    switch (e.type) {
      case EventType::kSpawn:
        begin("spawn " + name, "spawn", e.id);
        emit({{"ph", "s"}, {"name", "spawn"}, {"cat", "task"}, {"id", e.id}});
        last_ts_ = std::max(last_ts_, e.ts_ns + static_cast<std::int64_t>(e.spawn.duration_ns));
        end(false);
        counters[kLiveTasksTrack].push_back({last_ts_, static_cast<double>(e.spawn.live_tasks)});
        break;
      case EventType::kSpawnBegin:
        begin("spawn " + name, "spawn", e.id);
        emit({{"ph", "s"}, {"name", "spawn"}, {"cat", "task"}, {"id", e.id}});
        break;
      case EventType::kTaskBegin:
        begin(name, "task", e.id);
        emit({{"ph", "f"}, {"bp", "e"}, {"name", "spawn"}, {"cat", "task"}, {"id", e.id}});
        break;
      case EventType::kBlockBegin:
        begin("blocked: " + name, "blocking", 0);
        break;
      case EventType::kSpawnEnd:
      case EventType::kTaskEnd:
        end(false);
        counters[kLiveTasksTrack].push_back({e.ts_ns, e.value});
        break;
      case EventType::kBlockEnd:
        end(false);
        break;
      case EventType::kCounter:
        counters[name].push_back({e.ts_ns, e.value});
        break;
      case EventType::kInstant:
        emit({{"ph", "i"}, {"s", "t"}, {"name", name}, {"cat", "event"}, {"args", {{"value", e.value}}}});
        break;
    }
  }

  // Closes slices still open at the snapshot's end.
  void finish(std::int64_t end_ns) {
    last_ts_ = std::max(last_ts_, end_ns);
    while (open_ > 0) end(true);
  }

 private:
  void begin(const std::string& name, const char* cat, std::uint64_t id) {
    json args = json::object();
    if (id != 0) args["task_id"] = id;
    emit({{"ph", "B"}, {"name", name}, {"cat", cat}, {"args", std::move(args)}});
    ++open_;
  }
  void end(bool unfinished) {
    if (open_ == 0) return;  // its begin was overwritten or before the window
    --open_;
    json e = {{"ph", "E"}};
    if (unfinished) e["args"] = {{"unfinished", true}};
    emit(std::move(e));
  }
  void emit(json e) {
    e["ts"] = to_us(last_ts_);
    e["pid"] = pid_;
    e["tid"] = tid_;
    out_.push_back(std::move(e));
  }

  json& out_;
  const int pid_;
  const pid_t tid_;
  std::int64_t last_ts_ = 0;  // clamps the track's timestamps non-decreasing
  int open_ = 0;              // begins without their end yet
};

}  // namespace

std::string render_chrome_json(std::vector<RingCopy> rings, std::int64_t end_ns) {
  const int pid = static_cast<int>(::getpid());
  json events = json::array();
  events.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", pid}, {"tid", 0},
                    {"args", {{"name", process_name()}}}});
  std::map<std::string, std::vector<CounterSample>> counters;
  // Several rings may share a tid (a cleared generation); merge them per tid
  // so the track stays ordered.
  std::stable_sort(rings.begin(), rings.end(), [](const RingCopy& a, const RingCopy& b) { return a.tid < b.tid; });
  for (std::size_t i = 0; i < rings.size();) {
    const pid_t tid = rings[i].tid;
    events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", pid}, {"tid", tid},
                      {"args", {{"name", rings[i].thread_name}}}});
    TrackRenderer track(events, pid, tid);
    for (; i < rings.size() && rings[i].tid == tid; ++i) {
      for (const TraceEvent& e : rings[i].events) track.event(e, counters);
    }
    track.finish(end_ns);
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
