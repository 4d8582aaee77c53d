// retain adapter: retention report and retention profile.
#include "http/sources.h"

#ifdef SYNCSCOPE_HTTP_HAVE_RETAIN
#include "syncscope/retain/retention.h"
#endif

namespace syncscope::http::internal {

#ifdef SYNCSCOPE_HTTP_HAVE_RETAIN

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

#else

namespace {
absl::Status no_retain() {
  return absl::UnimplementedError(
      "not implemented: this build of syncscope has no 'retain' part (link syncscope::retain)");
}
}  // namespace

absl::StatusOr<std::string> retention_profile() { return no_retain(); }
absl::StatusOr<std::string> retention_report(const RetainQuery&) { return no_retain(); }

#endif

PartsPresent parts_present() {
  PartsPresent p;
#ifdef SYNCSCOPE_HTTP_HAVE_PROF
  p.prof = true;
#endif
#ifdef SYNCSCOPE_HTTP_HAVE_TASK
  p.task = true;
#endif
#ifdef SYNCSCOPE_HTTP_HAVE_RETAIN
  p.retain = true;
#endif
#ifdef SYNCSCOPE_HTTP_HAVE_MAP
  p.map = true;
#endif
  return p;
}

}  // namespace syncscope::http::internal
