// retain adapter: retention report, retention profile and the leaked-task
// (goroutineleak) profile. Compiled when the build has the retain part;
// source_retain_absent.cc otherwise (the thread-sanitizer build).
#include <vector>

#include "http/sources.h"
#include "http/sources_fleet.h"
#include "syncscope/retain/retention.h"
#include "syncscope/task/goroutine_profile.h"

namespace syncscope::http::internal {

absl::StatusOr<std::string> retention_profile() {
  absl::StatusOr<retain::RetentionSnapshot> snap = retain::take_snapshot();
  if (!snap.ok()) return snap.status();
  std::string profile = snap->retention_profile();
  if (profile.empty()) return absl::InternalError("retention profile is empty (no dominator tree)");
  return profile;
}

absl::StatusOr<std::string> retention_report(const RetainQuery& query) {
  retain::ReportQuery q;
  q.json = query.json;
  q.max_paths = static_cast<std::size_t>(query.max_paths);
  if (query.site) q.site = *query.site;
  if (query.type) q.type = *query.type;
  if (query.addr) {
    absl::StatusOr<std::uintptr_t> a = retain::parse_address(*query.addr);
    if (!a.ok()) return a.status();
    q.address = *a;
  }
  return retain::retention_report(q);
}

absl::StatusOr<std::string> goroutineleak_profile(int debug) {
  absl::StatusOr<retain::RetentionSnapshot> snap = retain::take_snapshot();
  if (!snap.ok()) return snap.status();
  task::GoroutineProfileOptions o;
  o.include_threads = false;
  o.profile_name = "goroutineleak";
  std::vector<task::TaskId> ids;
  for (const retain::LeakedTask& t : snap->leaked_tasks()) ids.push_back(t.task_id);
  o.only_tasks = std::move(ids);
  if (debug == 0) return task::goroutine_profile_proto(o);
  return task::goroutine_profile_text(debug, o);
}

PartsPresent parts_present() { return {.prof = true, .task = true, .retain = true, .map = true}; }

}  // namespace syncscope::http::internal
