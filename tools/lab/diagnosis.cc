#include "diagnosis.h"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "syncscope/reclaim/epoch_domain.h"

#include "syncscope/task/task_registry.h"
#include "syncscope/retain/retention.h"

namespace syncscope::lab {

void diagnose_tasks(Diagnosis& d, double threshold_s) {
  d.resident_threshold_s = threshold_s;
  namespace st = syncscope::task;
  const auto older = std::chrono::duration_cast<st::Clock::duration>(
      std::chrono::duration<double>(threshold_s));
  for (const st::SiteGroup& g : st::TaskRegistry::instance().resident_by_site(older)) {
    ResidentGroup t;
    t.spawn_site = g.site_string;
    t.name = g.oldest.name;
    t.count = g.count;
    t.blocking_reason = g.reasons.empty() ? "" : g.reasons.front().first;
    t.oldest_age_s = std::chrono::duration<double>(g.oldest_age).count();
    d.resident.push_back(std::move(t));
  }
  // Largest groups first: they are what a leak hunt looks at.
  std::stable_sort(d.resident.begin(), d.resident.end(),
                   [](const ResidentGroup& a, const ResidentGroup& b) { return a.count > b.count; });
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

namespace rt = syncscope::retain;

namespace {

// "function file:line" of a block's site, or its display name.
std::string block_site(const rt::PathHop& h) {
  return h.site_frames.empty() ? h.name : h.site_frames.front();
}

// The root without thread id and frame, so that the stacks of many threads
// running the same code count as one holder.
std::string holder_signature(const rt::RetentionPath& p) {
  if (p.hops.empty()) return "";
  const rt::PathHop& root = p.hops.front();
  return absl::StrCat(rt::to_string(root.root_kind), "|", root.root.thread_name, "|", root.root.module, "|",
                      root.root.symbol);
}

// Paths looked at per site: enough to see every holder of a leak of a few
// hundred blocks, bounded so a site of millions of blocks stays cheap.
constexpr std::size_t kMaxBlocksPerSite = 2000;

// holder -> bytes of the site's reachable blocks held through it.
using HolderBytes = absl::flat_hash_map<std::string, std::int64_t>;

// Paths to the blocks of one allocation site (by site id).
std::vector<rt::RetentionPath> paths_of_site(const rt::RetentionSnapshot& snap, std::uint32_t site) {
  std::vector<rt::RetentionPath> out;
  const rt::ObjectGraph& graph = snap.graph();
  for (rt::NodeId n = 0; n < graph.block_count(); ++n) {
    const rt::GraphBlock& b = graph.block(n);
    if (b.site != site) continue;
    out.push_back(snap.path_to(b.address));
    if (out.size() >= kMaxBlocksPerSite) break;
  }
  return out;
}

HolderBytes bytes_by_holder(const std::vector<rt::RetentionPath>& paths) {
  HolderBytes out;
  for (const auto& p : paths) {
    if (p.reachable) out[holder_signature(p)] += static_cast<std::int64_t>(p.target_size);
  }
  return out;
}

// The path that best explains a site's growth: group the reachable paths to
// its blocks by holder, take the holder whose bytes grew most since warm-up,
// and within it the path to its largest block.
const rt::RetentionPath* explain_site(const std::vector<rt::RetentionPath>& paths, const HolderBytes& before) {
  HolderBytes grew = bytes_by_holder(paths);
  if (grew.empty()) return nullptr;
  for (auto& [holder, bytes] : grew) {
    if (const auto it = before.find(holder); it != before.end()) bytes -= it->second;
  }
  const auto best = std::max_element(grew.begin(), grew.end(),
                                     [](const auto& x, const auto& y) { return x.second < y.second; });
  const rt::RetentionPath* pick = nullptr;
  for (const auto& p : paths) {
    if (!p.reachable || holder_signature(p) != best->first) continue;
    if (pick == nullptr || p.target_size > pick->target_size) pick = &p;
  }
  return pick;
}

// Snapshot options. SYNCSCOPE_LAB_NAME_FRAMES=0 turns off unwinding the
// paused threads (the frame that holds a stack root).
rt::Options snapshot_options() {
  rt::Options o;
  const char* env = std::getenv("SYNCSCOPE_LAB_NAME_FRAMES");
  if (env != nullptr && std::string_view(env) == "0") o.name_frames = false;
  return o;
}

}  // namespace

// What the warm-up snapshot leaves behind: totals without heap addresses.
// The snapshot itself is destroyed before the second scan, which would
// otherwise find its copies of block addresses and count them as holders.
struct RetentionProbe::State {
  bool have_before = false;
  std::vector<std::pair<std::uint32_t, rt::RetentionSnapshot::SiteTotals>> before_totals;
  // For the largest sites at warm-up: bytes per holder.
  absl::flat_hash_map<std::uint32_t, HolderBytes> before_holders;
  std::optional<rt::RetentionSnapshot> after;
};

RetentionProbe::RetentionProbe() : state_(std::make_unique<State>()) {}
RetentionProbe::~RetentionProbe() = default;

void RetentionProbe::take_before(Diagnosis& d) {
  absl::StatusOr<rt::RetentionSnapshot> s = rt::take_snapshot(snapshot_options());
  if (!s.ok()) {
    d.notes.push_back(absl::StrCat("retention snapshot at warm-up failed: ", s.status().ToString()));
    return;
  }
  std::vector<std::pair<std::uint64_t, std::uint32_t>> by_bytes;
  state_->before_totals = s->site_totals();
  for (const auto& [site, totals] : state_->before_totals) by_bytes.emplace_back(totals.bytes, site);
  std::sort(by_bytes.rbegin(), by_bytes.rend());
  constexpr std::size_t kTopSites = 8;
  for (std::size_t i = 0; i < by_bytes.size() && i < kTopSites; ++i) {
    state_->before_holders[by_bytes[i].second] = bytes_by_holder(paths_of_site(*s, by_bytes[i].second));
  }
  state_->have_before = true;
}

// Sites by live bytes gained since warm-up (rt::growth), each named after
// its largest block's allocation frame.
static std::vector<std::pair<std::uint32_t, SiteBytes>> grown(
    const rt::RetentionSnapshot& after,
    const std::vector<std::pair<std::uint32_t, rt::RetentionSnapshot::SiteTotals>>& before) {
  // The heap walk groups unsampled blocks by type or exact size, so one
  // buffer that grew (a vector's reallocation, the lab's own bookkeeping,
  // which the walk cannot tell from the workload's) is a group of its own;
  // a leak grows in count.
  prof::GrowthOptions options{.max_sites = 10};
  if (after.stats().block_source == rt::BlockSource::kHeapWalk) options.min_objects_gained = 2;
  std::vector<std::pair<std::uint32_t, SiteBytes>> out;
  for (const rt::SiteGrowth& g : rt::growth(before, after, options)) {
    const std::string name =
        g.example_path.hops.empty() ? absl::StrCat("site#", g.site) : block_site(g.example_path.hops.back());
    out.push_back({g.site,
                   {name, static_cast<std::int64_t>(g.bytes_after - g.bytes_before),
                    static_cast<std::int64_t>(g.objects_after) - static_cast<std::int64_t>(g.objects_before)}});
  }
  return out;
}

void RetentionProbe::take_after(Diagnosis& d) {
  absl::StatusOr<rt::RetentionSnapshot> s = rt::take_snapshot(snapshot_options());
  if (!s.ok()) {
    d.notes.push_back(absl::StrCat("retention snapshot failed: ", s.status().ToString()));
    return;
  }
  state_->after.emplace(std::move(*s));
  const rt::RetentionSnapshot& after = *state_->after;
  d.retention_block_source = rt::block_source_name(after.stats().block_source);
  if (after.stats().truncated) d.notes.push_back("retention scan truncated: scanner memory ran out");
  if (after.stats().threads_unresponsive > 0) {
    d.notes.push_back(absl::StrCat(after.stats().threads_unresponsive,
                                   " threads did not pause in time and were not scanned"));
  }
  for (const auto& r : after.top_retainers(8)) {
    d.retainers.push_back({r.site_frames.empty() ? r.site_name : r.site_frames.front(),
                           r.retained_bytes, r.retained_objects});
  }
  for (const auto& t : after.leaked_tasks()) {
    d.leaked_tasks.push_back({t.name, t.spawn_site, t.blocking_reason, t.age_s});
  }
  if (!state_->have_before) return;
  const auto g = grown(after, state_->before_totals);
  d.grown_sites.clear();
  for (const auto& [site, sb] : g) d.grown_sites.push_back(sb);
  if (g.empty()) return;
  const std::vector<rt::RetentionPath> paths = paths_of_site(after, g.front().first);
  const auto before = state_->before_holders.find(g.front().first);
  const rt::RetentionPath* path =
      explain_site(paths, before == state_->before_holders.end() ? HolderBytes{} : before->second);
  if (path == nullptr) return;
  for (const rt::PathHop& h : path->hops) {
    d.retention_path.push_back({h.is_root ? "root" : "block", h.is_root ? h.name : block_site(h),
                                h.offset, h.size});
  }
  d.retention_target = d.retention_path.empty() ? "" : d.retention_path.back().site;
  d.retention_target_retained = path->retained_bytes;
  if (const auto tid = static_cast<int>(path->hops.front().root.thread_id); tid != 0) {
    const auto tasks = syncscope::task::TaskRegistry::instance().tasks_on_thread(tid);
    if (!tasks.empty()) {
      d.retention_root_task = tasks.back().name;
      d.retention_root_task_site = tasks.back().site_string();
    }
  }
}

absl::Status RetentionProbe::write_retention_profile(const std::string& path) const {
  if (!state_->after) return absl::FailedPreconditionError("no retention snapshot");
  return state_->after->write_retention_profile(path);
}


}  // namespace syncscope::lab
