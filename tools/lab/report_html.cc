// report.html: one self-contained page (inline CSS and SVG, no script, no
// external resource) with the charts and tables of one scenario.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "syncscope/http/html_escape.h"
#include "detector.h"
#include "report.h"

namespace syncscope::lab {
namespace {

std::string esc(std::string_view s) { return http::html_escape(s); }

std::string bytes(double b) { return esc(format_bytes(b)); }

void site_table(std::string& h, const char* title, const std::vector<SiteBytes>& rows, const char* col) {
  absl::StrAppend(&h, "<h2>", title, "</h2>");
  if (rows.empty()) {
    absl::StrAppend(&h, "<p class=\"muted\">none measured</p>");
    return;
  }
  absl::StrAppend(&h, "<table><tr><th>", col, "</th><th>objects</th><th>allocation site</th></tr>");
  for (const SiteBytes& s : rows) {
    absl::StrAppend(&h, "<tr><td class=\"n\">", bytes(static_cast<double>(s.bytes)), "</td><td class=\"n\">",
                    s.objects, "</td><td><code>", esc(s.site), "</code></td></tr>");
  }
  absl::StrAppend(&h, "</table>");
}

void tasks_table(std::string& h, const Diagnosis& d) {
  absl::StrAppendFormat(&h, "<h2>Resident tasks (older than %.1f s) by spawn site</h2>", d.resident_threshold_s);
  if (d.resident.empty()) {
    absl::StrAppend(&h, "<p class=\"muted\">none</p>");
    return;
  }
  absl::StrAppend(&h, "<table><tr><th>count</th><th>task</th><th>spawn site</th><th>blocking reason</th>"
                      "<th>oldest</th></tr>");
  for (const ResidentGroup& g : d.resident) {
    absl::StrAppendFormat(&h, "<tr><td class=\"n\">%d</td><td>%s</td><td><code>%s</code></td><td>%s</td>"
                              "<td class=\"n\">%.1f s</td></tr>",
                          g.count, esc(g.name), esc(g.spawn_site),
                          g.blocking_reason.empty() ? "(running)" : esc(g.blocking_reason), g.oldest_age_s);
  }
  absl::StrAppend(&h, "</table>");
}

void path_table(std::string& h, const Diagnosis& d) {
  absl::StrAppend(&h, "<h2>Retention path (root first) to a block of the site that grew most</h2>");
  if (d.retention_path.empty()) {
    absl::StrAppend(&h, "<p class=\"muted\">no path (no growth, or the retention step was unavailable)</p>");
    return;
  }
  absl::StrAppend(&h, "<p class=\"muted\">Blocks from the ", esc(d.retention_block_source), ".</p>");
  absl::StrAppend(&h, "<table><tr><th>#</th><th>kind</th><th>root / allocation site / type</th><th>offset</th>"
                      "<th>size</th></tr>");
  int i = 0;
  for (const Hop& x : d.retention_path) {
    absl::StrAppendFormat(&h, "<tr><td class=\"n\">%d</td><td>%s</td><td><code>%s</code></td>"
                              "<td class=\"n\">+%d</td><td class=\"n\">%s</td></tr>",
                          i++, x.kind, esc(x.site), x.offset, bytes(static_cast<double>(x.size)));
  }
  absl::StrAppend(&h, "</table>");
  if (!d.retention_root_task.empty()) {
    absl::StrAppend(&h, "<p>The root thread runs task <b>", esc(d.retention_root_task), "</b> spawned at <code>",
                    esc(d.retention_root_task_site), "</code>.</p>");
  }
}

void retainers_table(std::string& h, const Diagnosis& d) {
  absl::StrAppend(&h, "<h2>Top retainers (retained size, dominator tree)</h2>");
  if (d.retainers.empty()) {
    absl::StrAppend(&h, "<p class=\"muted\">none measured</p>");
    return;
  }
  absl::StrAppend(&h, "<table><tr><th>retained</th><th>objects</th><th>allocation site</th></tr>");
  for (const Retainer& r : d.retainers) {
    absl::StrAppend(&h, "<tr><td class=\"n\">", bytes(static_cast<double>(r.retained_bytes)),
                    "</td><td class=\"n\">", r.retained_objects, "</td><td><code>", esc(r.site),
                    "</code></td></tr>");
  }
  absl::StrAppend(&h, "</table>");
}

void other(std::string& h, const ScenarioResult& r) {
  const Diagnosis& d = r.diagnosis;
  absl::StrAppend(&h, "<h2>Read-side protection</h2>");
  if (d.pinned_readers.empty()) absl::StrAppend(&h, "<p class=\"muted\">no reader pinned for over 0.5 s</p>");
  for (const PinnedReaderInfo& p : d.pinned_readers) {
    absl::StrAppendFormat(&h, "<p>Thread <b>%s</b> (tid %d) pinned for %.1f s, epoch lag %d, holding back %d "
                              "objects (%s).</p>",
                          esc(p.thread_name), p.tid, p.pinned_for_s, p.epoch_lag, p.held_back_objects,
                          bytes(static_cast<double>(p.held_back_bytes)));
  }
  absl::StrAppendFormat(&h, "<p>Map backlog: %d retired objects (%s) not yet freed.</p>", d.backlog_objects,
                        bytes(static_cast<double>(d.backlog_bytes)));
  if (!d.leaked_tasks.empty()) {
    absl::StrAppendFormat(&h, "<p>%d tasks wait on objects nothing else can reach (never woken), e.g. "
                              "<b>%s</b> blocked on <i>%s</i>.</p>",
                          d.leaked_tasks.size(), esc(d.leaked_tasks[0].name), esc(d.leaked_tasks[0].blocking_reason));
  }
  if (!d.unavailable.empty() || !d.notes.empty()) {
    absl::StrAppend(&h, "<h2>Steps not available in this build</h2><ul>");
    for (const auto& u : d.unavailable) absl::StrAppend(&h, "<li>", esc(u), "</li>");
    for (const auto& n : d.notes) absl::StrAppend(&h, "<li>note: ", esc(n), "</li>");
    absl::StrAppend(&h, "</ul>");
  }
  absl::StrAppend(&h, "<h2>Files</h2><ul>");
  for (const auto& f : r.files) absl::StrAppend(&h, "<li><a href=\"", esc(f), "\">", esc(f), "</a></li>");
  for (const auto& [f, why] : r.skipped) absl::StrAppend(&h, "<li>", esc(f), ": not written (", esc(why), ")</li>");
  absl::StrAppend(&h, "</ul>");
}

constexpr const char* kStyle =
    "body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222}"
    "h1{font-size:22px}h2{font-size:16px;margin-top:28px}code{font-size:12px}"
    "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:3px 6px;"
    "text-align:left;vertical-align:top}td.n{text-align:right;white-space:nowrap}"
    ".verdict{padding:10px 14px;border-radius:6px;font-weight:600}.leak{background:#fdecea;color:#922}"
    ".ok{background:#e8f6ec;color:#1d6b34}.muted{color:#777}";

}  // namespace

std::string report_html(const ScenarioResult& r) {
  const Diagnosis& d = r.diagnosis;
  const Verdict& v = r.verdict;
  std::string h = absl::StrCat("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>syncscope lab: ",
                               esc(r.name), "</title><style>", kStyle, "</style></head><body>");
  absl::StrAppend(&h, "<h1>syncscope lab — ", esc(r.name), "</h1><p>", esc(r.title), "</p><p>", esc(r.story),
                  "</p>");
  absl::StrAppend(&h, "<p class=\"verdict ", v.leak ? "leak" : "ok", "\">", v.leak ? "Leak found" : "No leak",
                  ": ", esc(v.cause), "</p>");
  absl::StrAppend(&h, "<p>Workload: ", esc(d.workload_summary), "</p>");
  absl::StrAppendFormat(&h, "<h2>Live heap over time (every 100 ms)</h2>%s<p class=\"muted\">%s; %s → %s, "
                            "%s/s after warm-up, tolerance %s.</p>",
                        heap_svg(d.heap, d.warmup_s, v.leak), esc(d.heap_source),
                        bytes(static_cast<double>(v.live_bytes_start)), bytes(static_cast<double>(v.live_bytes_end)),
                        bytes(v.slope_bytes_per_s), bytes(static_cast<double>(v.tolerance_bytes)));
  site_table(h, "Top allocation sites by live bytes", d.top_sites, "live");
  site_table(h, "Sites that grew during the run", d.grown_sites, "grew");
  tasks_table(h, d);
  path_table(h, d);
  retainers_table(h, d);
  other(h, r);
  absl::StrAppend(&h, "</body></html>\n");
  return h;
}

}  // namespace syncscope::lab
