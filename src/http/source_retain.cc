// retain adapter: retention report and retention profile.
#include "http/sources.h"

#include "syncscope/retain/retention.h"

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


PartsPresent parts_present() {
  PartsPresent p;
  p.prof = true;
  p.task = true;
  p.retain = true;
  p.map = true;
  return p;
}

}  // namespace syncscope::http::internal
