// Goroutine-profile writers (debug=1, debug=2, protobuf) and the resident
// report. See goroutine_profile.h for the formats.
#include "syncscope/task/goroutine_profile.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "syncscope/prof/atomic_file.h"
#include "syncscope/prof/profile_builder.h"
#include "syncscope/task/task_registry.h"
#include "syncscope/task/thread_dump.h"
#include "task/symbolize_util.h"

namespace syncscope::task {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

// What the profile is made of: live tasks and (optionally) OS threads.
struct Inputs {
  std::vector<TaskInfo> tasks;
  std::vector<ThreadStack> threads;
  std::map<pid_t, const ThreadStack*> by_tid;
  std::map<pid_t, TaskId> task_on_thread;
};

Inputs gather(const GoroutineProfileOptions& options) {
  Inputs in;
  in.tasks = options.min_age > Clock::duration::zero()
                 ? TaskRegistry::instance().resident_tasks(options.min_age)
                 : TaskRegistry::instance().live_tasks();
  if (options.only_tasks) {
    const std::vector<TaskId>& keep = *options.only_tasks;
    std::erase_if(in.tasks, [&](const TaskInfo& t) {
      return std::find(keep.begin(), keep.end(), t.id) == keep.end();
    });
  }
  if (options.include_threads) {
    in.threads = dump_all_threads({.timeout = options.thread_dump_timeout});
    for (const ThreadStack& t : in.threads) in.by_tid[t.tid] = &t;
  }
  for (const TaskInfo& t : in.tasks) {
    if (t.thread_id != 0 && t.state != TaskState::kQueued) in.task_on_thread[t.thread_id] = t.id;
  }
  return in;
}

Labels task_labels(const TaskInfo& t) {
  Labels l{{"kind", "task"}, {"name", t.name}, {"state", to_string(t.state)}};
  if (!t.blocking_reason.empty()) l.emplace_back("reason", t.blocking_reason);
  l.emplace_back("site", t.site_string());
  return l;
}

Labels thread_labels(const ThreadStack& t) {
  return {{"kind", "thread"}, {"thread", t.name}, {"tid", std::to_string(t.tid)}};
}

std::string hex(std::uintptr_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string age_string(Clock::duration d) {
  const double s = std::chrono::duration<double>(d).count();
  char buf[64];
  if (s >= 60) std::snprintf(buf, sizeof buf, "%.0f minutes", s / 60);
  else std::snprintf(buf, sizeof buf, "%.3f seconds", s);
  return buf;
}

std::string debug1(const Inputs& in, const std::string& name) {
  // (stack, exact_first, labels) -> count; Go aggregates on stack + labels.
  using Key = std::tuple<std::vector<std::uintptr_t>, bool, Labels>;
  std::map<Key, std::size_t> counts;
  for (const TaskInfo& t : in.tasks) ++counts[{t.spawn_stack, false, task_labels(t)}];
  for (const ThreadStack& t : in.threads) ++counts[{t.pcs, !t.is_caller, thread_labels(t)}];
  std::vector<std::pair<Key, std::size_t>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::ostringstream os;
  os << name << " profile: total " << in.tasks.size() + in.threads.size() << "\n";
  for (const auto& [key, count] : sorted) {
    const auto& [pcs, exact_first, labels] = key;
    os << count << " @";
    for (std::uintptr_t pc : pcs) os << " " << hex(pc);
    os << "\n# labels: {";
    for (std::size_t i = 0; i < labels.size(); ++i) {
      os << (i ? ", " : "") << nlohmann::json(labels[i].first).dump() << ":"
         << nlohmann::json(labels[i].second).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    os << "}\n";
    for (const internal::ResolvedFrame& f : internal::resolve(pcs, exact_first)) {
      os << "#\t" << hex(f.pc) << "\t" << f.function << "\t" << internal::location(f) << "\n";
    }
    os << "\n";
  }
  return os.str();
}

void append_stack(std::ostringstream& os, std::span<const std::uintptr_t> pcs, bool exact_first) {
  for (const internal::ResolvedFrame& f : internal::resolve(pcs, exact_first)) {
    os << f.function << "\n\t" << internal::location(f) << " " << hex(f.pc) << "\n";
  }
}

std::string debug2(const Inputs& in) {
  std::ostringstream os;
  const Clock::time_point now = Clock::now();
  for (const TaskInfo& t : in.tasks) {
    os << "task " << t.id << " \"" << t.name << "\" [" << to_string(t.state);
    if (!t.blocking_reason.empty()) os << ": " << t.blocking_reason;
    os << ", " << age_string(t.age(now));
    if (t.stop_requested) os << ", stop requested";
    if (t.deadline_exceeded) os << ", deadline exceeded";
    os << "]";
    if (t.wait_object != 0) os << " waiting on " << hex(t.wait_object);
    const ThreadStack* thread = nullptr;
    if (t.thread_id != 0 && t.state != TaskState::kQueued) {
      os << " on thread " << t.thread_id;
      if (auto it = in.by_tid.find(t.thread_id); it != in.by_tid.end()) thread = it->second;
    }
    os << " (" << t.executor << "):\n";
    if (thread != nullptr) append_stack(os, thread->pcs, !thread->is_caller);
    os << "created by " << t.site_string();
    if (t.parent != 0) os << " in task " << t.parent;
    os << "\n";
    append_stack(os, t.spawn_stack, false);
    os << "\n";
  }
  for (const ThreadStack& t : in.threads) {
    if (in.task_on_thread.count(t.tid) != 0) continue;  // shown with its task
    os << "thread " << t.tid << " \"" << t.name << "\" [" << to_string(t.status) << "]:\n";
    append_stack(os, t.pcs, !t.is_caller);
    os << "\n";
  }
  return os.str();
}

std::vector<prof::SampleLabel> to_sample_labels(const Labels& labels) {
  std::vector<prof::SampleLabel> out;
  for (const auto& [k, v] : labels) out.push_back({k, v, 0, ""});
  return out;
}

}  // namespace

absl::StatusOr<std::string> goroutine_profile_text(int debug, const GoroutineProfileOptions& options) {
  if (debug != 1 && debug != 2) {
    return absl::InvalidArgumentError("invalid value for \"debug\": the text forms are 1 and 2");
  }
  const Inputs in = gather(options);
  return debug == 1 ? debug1(in, options.profile_name) : debug2(in);
}

std::string goroutine_profile_proto(const GoroutineProfileOptions& options) {
  const Inputs in = gather(options);
  prof::ProfileBuilder b({{options.profile_name, "count"}}, {options.profile_name, "count"}, 1);
  b.set_time_nanos(std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count());
  const std::int64_t one[] = {1};
  for (const TaskInfo& t : in.tasks) {
    const auto labels = to_sample_labels(task_labels(t));
    if (!t.spawn_stack.empty()) {
      b.add_sample(t.spawn_stack, one, labels);
    } else {
      const prof::NamedFrame site{t.site.function_name(), t.site.file_name(), static_cast<int>(t.site.line())};
      b.add_named_sample(std::span(&site, 1), one, labels);
    }
  }
  for (const ThreadStack& t : in.threads) {
    if (t.pcs.empty()) continue;
    b.add_sample(t.pcs, one, to_sample_labels(thread_labels(t)));
  }
  return b.serialize_gzipped();
}

absl::Status write_goroutine_profile(const std::string& path, const GoroutineProfileOptions& options) {
  return prof::write_file_atomically(path, goroutine_profile_proto(options));
}

std::string resident_report_text(Clock::duration older_than) {
  std::ostringstream os;
  for (const SiteGroup& g : TaskRegistry::instance().resident_by_site(older_than)) {
    char age[32];
    std::snprintf(age, sizeof age, "%.1f s", std::chrono::duration<double>(g.oldest_age).count());
    os << g.count << (g.count == 1 ? " task" : " tasks") << " at " << g.site_string << ", oldest " << age;
    for (const auto& [reason, n] : g.reasons) {
      os << ", " << (reason.empty() ? std::string("not blocked") : "blocked: " + reason) << " (" << n << ")";
    }
    os << "\n";
  }
  return os.str();
}

}  // namespace syncscope::task
