// The terminal report of one scenario.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "detector.h"
#include "report.h"

namespace syncscope::lab {
namespace {

constexpr std::size_t kMaxRows = 5;

void sites(std::string& out, const char* heading, const std::vector<SiteBytes>& rows, bool plus) {
  if (rows.empty()) return;
  absl::StrAppend(&out, heading, "\n");
  for (std::size_t i = 0; i < rows.size() && i < kMaxRows; ++i) {
    absl::StrAppendFormat(&out, "  %s%10s  %6d obj  %s\n", plus ? "+" : " ",
                          format_bytes(static_cast<double>(rows[i].bytes)), rows[i].objects, rows[i].site);
  }
}

void tasks(std::string& out, const Diagnosis& d) {
  if (d.resident.empty()) {
    absl::StrAppendFormat(&out, "resident tasks (older than %.1f s): none\n", d.resident_threshold_s);
    return;
  }
  absl::StrAppendFormat(&out, "resident tasks (older than %.1f s) by spawn site:\n", d.resident_threshold_s);
  for (std::size_t i = 0; i < d.resident.size() && i < kMaxRows; ++i) {
    const ResidentGroup& g = d.resident[i];
    absl::StrAppendFormat(&out, "  %5d  '%s' at %s  [%s]  oldest %.1f s\n", g.count, g.name, g.spawn_site,
                          g.blocking_reason.empty() ? "running" : "blocked: " + g.blocking_reason,
                          g.oldest_age_s);
  }
}

void path(std::string& out, const Diagnosis& d) {
  if (d.retention_path.empty()) return;
  absl::StrAppend(&out, "retention path to a block of the site that grew most (root first; blocks from the ",
                  d.retention_block_source, "):\n");
  for (const Hop& h : d.retention_path) {
    absl::StrAppendFormat(&out, "  %-5s %s  [+%d of %s]\n", h.kind, h.site, h.offset,
                          format_bytes(static_cast<double>(h.size)));
  }
  if (!d.retention_root_task.empty()) {
    absl::StrAppendFormat(&out, "  (root thread runs task '%s' spawned at %s)\n", d.retention_root_task,
                          d.retention_root_task_site);
  }
}

void rest(std::string& out, const Diagnosis& d) {
  if (!d.retainers.empty()) {
    absl::StrAppend(&out, "top retainers (retained size, dominator tree):\n");
    for (std::size_t i = 0; i < d.retainers.size() && i < kMaxRows; ++i) {
      absl::StrAppendFormat(&out, "   %10s  %s\n", format_bytes(static_cast<double>(d.retainers[i].retained_bytes)),
                            d.retainers[i].site);
    }
  }
  for (const PinnedReaderInfo& r : d.pinned_readers) {
    absl::StrAppendFormat(&out,
                          "pinned reader: thread '%s' (tid %d) pinned %.1f s, epoch lag %d, holding back "
                          "%d objects (%s)\n",
                          r.thread_name, r.tid, r.pinned_for_s, r.epoch_lag, r.held_back_objects,
                          format_bytes(static_cast<double>(r.held_back_bytes)));
  }
  if (d.backlog_objects > 0) {
    absl::StrAppendFormat(&out, "map backlog: %d retired objects (%s) not yet freed\n", d.backlog_objects,
                          format_bytes(static_cast<double>(d.backlog_bytes)));
  }
  if (!d.leaked_tasks.empty()) {
    const LeakedTaskInfo& t = d.leaked_tasks.front();
    absl::StrAppendFormat(&out, "tasks nothing can wake: %d (e.g. '%s' at %s, blocked: %s, %.1f s old)\n",
                          d.leaked_tasks.size(), t.name, t.spawn_site, t.blocking_reason, t.age_s);
  }
  for (const std::string& u : d.unavailable) absl::StrAppend(&out, "unavailable: ", u, "\n");
  for (const std::string& n : d.notes) absl::StrAppend(&out, "note: ", n, "\n");
}

}  // namespace

std::string report_text(const ScenarioResult& r) {
  const Diagnosis& d = r.diagnosis;
  const Verdict& v = r.verdict;
  std::string out = absl::StrFormat("\n━━ %s — %s\n", r.name, r.title);
  absl::StrAppend(&out, "workload: ", d.workload_summary, "\n");
  absl::StrAppendFormat(&out, "heap %s  %s -> %s over %.1f s (%s/s after %.1f s warm-up)\n",
                        sparkline(d.heap, 40), format_bytes(static_cast<double>(v.live_bytes_start)),
                        format_bytes(static_cast<double>(v.live_bytes_end)), r.seconds,
                        format_bytes(v.slope_bytes_per_s), d.warmup_s);
  sites(out, "top allocation sites by live bytes:", d.top_sites, false);
  sites(out, "sites that grew during the run:", d.grown_sites, true);
  tasks(out, d);
  path(out, d);
  rest(out, d);
  absl::StrAppendFormat(&out, "VERDICT %s: %s — %s\n", r.name, v.leak ? "LEAK" : "no leak", v.cause);
  return out;
}

}  // namespace syncscope::lab
