// task adapter: TaskRegistry, goroutine profile and trace recorder.
#include <algorithm>
#include <chrono>

#include "http/sources.h"

#include "syncscope/task/goroutine_profile.h"
#include "syncscope/task/task_registry.h"
#include "syncscope/task/trace.h"

namespace syncscope::http::internal {

absl::StatusOr<TaskFigures> task_figures(int resident_after_s) {
  TaskFigures f;
  const task::TaskRegistry& reg = task::TaskRegistry::instance();
  const auto now = task::Clock::now();
  const auto threshold = std::chrono::seconds(resident_after_s);
  for (const task::TaskInfo& t : reg.live_tasks()) {
    ++f.live;
    if (t.age(now) > threshold) ++f.resident;
    switch (t.state) {
      case task::TaskState::kQueued: ++f.queued; break;
      case task::TaskState::kRunning: ++f.running; break;
      case task::TaskState::kBlocked: ++f.blocked; break;
      case task::TaskState::kDone: break;
    }
  }
  f.spawned_total = reg.total_spawned();
  return f;
}

absl::StatusOr<std::vector<ResidentGroup>> resident_groups(int resident_after_s) {
  std::vector<ResidentGroup> out;
  for (const task::SiteGroup& g :
       task::TaskRegistry::instance().resident_by_site(std::chrono::seconds(resident_after_s))) {
    ResidentGroup r;
    r.site = g.site_string;
    r.count = g.count;
    if (!g.reasons.empty()) r.blocking_reason = g.reasons.front().first;
    r.oldest_age_s = std::chrono::duration<double>(g.oldest_age).count();
    r.oldest_name = g.oldest.name;
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<std::string> goroutine_profile(int debug) {
  if (debug == 0) return task::goroutine_profile_proto();
  return task::goroutine_profile_text(debug);
}

absl::StatusOr<std::string> trace_json(int seconds, const Canceller& canceller) {
  std::string json = task::trace_for(std::chrono::seconds(seconds), canceller.token());
  if (canceller.cancelled()) return absl::CancelledError("server is shutting down");
  return json;
}

}  // namespace syncscope::http::internal
