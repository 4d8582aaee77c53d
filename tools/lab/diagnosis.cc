#include "diagnosis.h"

#include <algorithm>
#include <cctype>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "syncscope/reclaim/epoch_domain.h"

#if SYNCSCOPE_LAB_HAVE_TASK
#include "syncscope/task/task_registry.h"
#endif
#if SYNCSCOPE_LAB_HAVE_RETAIN
#include "syncscope/retain/retention.h"
#endif

namespace syncscope::lab {

void diagnose_tasks(Diagnosis& d, double threshold_s) {
  d.resident_threshold_s = threshold_s;
#if SYNCSCOPE_LAB_HAVE_TASK
  namespace st = syncscope::task;
  const auto older = std::chrono::duration_cast<st::Clock::duration>(
      std::chrono::duration<double>(threshold_s));
  for (const st::SiteGroup& g : st::TaskRegistry::instance().resident_by_site(older)) {
    TaskGroup t;
    t.spawn_site = g.site_string;
    t.name = g.oldest.name;
    t.count = g.count;
    t.blocking_reason = g.reasons.empty() ? "" : g.reasons.front().first;
    t.oldest_age_s = std::chrono::duration<double>(g.oldest_age).count();
    d.resident.push_back(std::move(t));
  }
  // Largest groups first: they are what a leak hunt looks at.
  std::stable_sort(d.resident.begin(), d.resident.end(),
                   [](const TaskGroup& a, const TaskGroup& b) { return a.count > b.count; });
#else
  d.unavailable.push_back("resident tasks by spawn site (task part not built)");
#endif
}

void diagnose_pinned_readers(Diagnosis& d, double min_age_s) {
  const auto min_age = std::chrono::duration_cast<std::chrono::nanoseconds>(
      std::chrono::duration<double>(min_age_s));
  for (const reclaim::PinnedReader& r : reclaim::EpochDomain::global().pinned_readers(min_age)) {
    d.pinned_readers.push_back({r.tid, r.thread_name,
                                std::chrono::duration<double>(r.pinned_for).count(), r.epoch_lag,
                                r.held_back.objects, r.held_back.bytes});
  }
}

#if SYNCSCOPE_LAB_HAVE_RETAIN
namespace rt = syncscope::retain;

namespace {

// "function file:line" of a block's site, or its display name.
std::string block_site(const rt::PathHop& h) {
  return h.site_frames.empty() ? h.name : h.site_frames.front();
}

// The root's name without thread ids and frame, so that the stacks of many
// threads running the same code count as one holder.
std::string holder_signature(const rt::RetentionPath& p) {
  std::string sig;
  if (p.hops.empty()) return sig;
  const std::string& root = p.hops.front().name;
  for (char c : root.substr(0, root.find(", frame"))) {
    if (std::isdigit(static_cast<unsigned char>(c)) == 0) sig.push_back(c);
  }
  if (p.hops.size() > 1) absl::StrAppend(&sig, " -> ", p.hops[1].site);
  return sig;
}

// The path that best explains the growth of a site: among reachable paths
// to its blocks, group by holder and take the holder keeping the most bytes;
// within it, the path to its largest block.
std::optional<rt::RetentionPath> explain_site(const rt::RetentionSnapshot& snap,
                                              const std::string& site_name) {
  std::vector<rt::RetentionPath> paths = snap.paths_to_site(site_name, 256);
  absl::flat_hash_map<std::string, std::uint64_t> bytes_by_holder;
  for (const auto& p : paths) {
    if (p.reachable) bytes_by_holder[holder_signature(p)] += p.target_size;
  }
  if (bytes_by_holder.empty()) return std::nullopt;
  const auto best = std::max_element(bytes_by_holder.begin(), bytes_by_holder.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; });
  const rt::RetentionPath* pick = nullptr;
  for (const auto& p : paths) {
    if (!p.reachable || holder_signature(p) != best->first) continue;
    if (pick == nullptr || p.target_size > pick->target_size) pick = &p;
  }
  return *pick;
}

// The Linux thread id in a root name such as "thread 'x' (tid 12) stack".
int root_tid(const std::string& root) {
  const auto at = root.find("(tid ");
  if (at == std::string::npos) return 0;
  return std::atoi(root.c_str() + at + 5);
}

}  // namespace

struct RetentionProbe::State {
  std::optional<rt::RetentionSnapshot> before;
  std::optional<rt::RetentionSnapshot> after;
};

RetentionProbe::RetentionProbe() : state_(std::make_unique<State>()) {}
RetentionProbe::~RetentionProbe() = default;
bool RetentionProbe::available() { return true; }

void RetentionProbe::take_before(Diagnosis& d) {
  absl::StatusOr<rt::RetentionSnapshot> s = rt::take_snapshot();
  if (!s.ok()) {
    d.notes.push_back(absl::StrCat("retention snapshot at warm-up failed: ", s.status().ToString()));
    return;
  }
  state_->before.emplace(std::move(*s));
}

void RetentionProbe::take_after(Diagnosis& d) {
  absl::StatusOr<rt::RetentionSnapshot> s = rt::take_snapshot();
  if (!s.ok()) {
    d.notes.push_back(absl::StrCat("retention snapshot failed: ", s.status().ToString()));
    return;
  }
  state_->after.emplace(std::move(*s));
  const rt::RetentionSnapshot& after = *state_->after;
  if (after.stats().truncated) d.notes.push_back("retention scan truncated: scanner memory ran out");
  if (after.stats().threads_unresponsive > 0) {
    d.notes.push_back(absl::StrCat(after.stats().threads_unresponsive,
                                   " threads did not pause in time and were not scanned"));
  }
  std::string grown_site;
  if (state_->before) {
    std::vector<rt::SiteGrowth> g = rt::growth(*state_->before, after, 10);
    d.grown_sites.clear();
    for (const auto& s : g) {
      if (s.bytes_after <= s.bytes_before) continue;
      const std::string name = s.example_path.hops.empty() ? s.site_name
                                                           : block_site(s.example_path.hops.back());
      d.grown_sites.push_back({name, static_cast<std::int64_t>(s.bytes_after - s.bytes_before),
                               static_cast<std::int64_t>(s.objects_after) -
                                   static_cast<std::int64_t>(s.objects_before)});
      if (grown_site.empty()) grown_site = s.site_name;
    }
  }
  for (const auto& r : after.top_retainers(8)) {
    d.retainers.push_back({r.site_frames.empty() ? r.site_name : r.site_frames.front(),
                           r.retained_bytes, r.retained_objects});
  }
  for (const auto& t : after.leaked_tasks()) {
    d.leaked_tasks.push_back({t.name, t.spawn_site, t.blocking_reason, t.age_s});
  }
  if (grown_site.empty()) return;
  const std::optional<rt::RetentionPath> path = explain_site(after, grown_site);
  if (!path) return;
  for (const rt::PathHop& h : path->hops) {
    d.retention_path.push_back({h.is_root ? "root" : "block", h.is_root ? h.name : block_site(h),
                                h.offset, h.size});
  }
  d.retention_target = d.retention_path.empty() ? "" : d.retention_path.back().site;
  d.retention_target_retained = path->retained_bytes;
#if SYNCSCOPE_LAB_HAVE_TASK
  if (const int tid = root_tid(path->hops.front().name); tid != 0) {
    const auto tasks = syncscope::task::TaskRegistry::instance().tasks_on_thread(tid);
    if (!tasks.empty()) {
      d.retention_root_task = tasks.back().name;
      d.retention_root_task_site = tasks.back().site_string();
    }
  }
#endif
}

bool RetentionProbe::write_retention_profile(const std::string& path, std::string* error) const {
  if (!state_->after) {
    if (error != nullptr) *error = "no retention snapshot";
    return false;
  }
  return state_->after->write_retention_profile(path, error);
}

#else  // !SYNCSCOPE_LAB_HAVE_RETAIN

struct RetentionProbe::State {};
RetentionProbe::RetentionProbe() = default;
RetentionProbe::~RetentionProbe() = default;
bool RetentionProbe::available() { return false; }
void RetentionProbe::take_before(Diagnosis&) {}
void RetentionProbe::take_after(Diagnosis& d) {
  d.unavailable.push_back("retention path and top retainers (retain part not built)");
}
bool RetentionProbe::write_retention_profile(const std::string&, std::string* error) const {
  if (error != nullptr) *error = "retain part not built";
  return false;
}

#endif

}  // namespace syncscope::lab
