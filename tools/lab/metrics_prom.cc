// metrics.prom: the scenario's final figures in Prometheus text exposition
// format (promtool check metrics accepts it).
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "report.h"

namespace syncscope::lab {
namespace {

// Escapes a label value (backslash, double quote, newline).
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

void gauge(std::string& out, const char* name, const char* help, const std::string& labels,
           double value) {
  absl::StrAppendFormat(&out, "# HELP %s %s\n# TYPE %s gauge\n%s{%s} %.17g\n", name, help, name,
                        name, labels, value);
}

}  // namespace

std::string metrics_prom(const ScenarioResult& r) {
  const Diagnosis& d = r.diagnosis;
  const Verdict& v = r.verdict;
  const std::string sc = absl::StrCat("scenario=\"", label(r.name), "\"");
  std::string out;
  gauge(out, "syncscope_lab_leak", "1 when the detector found a leak", sc, v.leak ? 1 : 0);
  gauge(out, "syncscope_lab_live_bytes_start", "Live heap bytes after warm-up", sc,
        static_cast<double>(v.live_bytes_start));
  gauge(out, "syncscope_lab_live_bytes_end", "Live heap bytes at the end", sc,
        static_cast<double>(v.live_bytes_end));
  gauge(out, "syncscope_lab_live_bytes_slope", "Least-squares growth of live heap bytes per second",
        sc, v.slope_bytes_per_s);
  gauge(out, "syncscope_lab_map_backlog_bytes", "Retired but unfreed bytes of the scenario's map",
        sc, static_cast<double>(d.backlog_bytes));
  gauge(out, "syncscope_lab_pinned_readers", "Threads pinned in the epoch domain for over 0.5 s",
        sc, static_cast<double>(d.pinned_readers.size()));
  out += "# HELP syncscope_lab_resident_tasks Resident tasks by spawn site\n"
         "# TYPE syncscope_lab_resident_tasks gauge\n";
  for (const ResidentGroup& g : d.resident) {  // one group per spawn site
    absl::StrAppendFormat(&out, "syncscope_lab_resident_tasks{%s,site=\"%s\",reason=\"%s\"} %d\n",
                          sc, label(g.spawn_site), label(g.blocking_reason), g.count);
  }
  out += "# HELP syncscope_lab_retained_bytes Bytes retained by allocation site (top retainers)\n"
         "# TYPE syncscope_lab_retained_bytes gauge\n";
  // Several site ids can share a display name: one series per name.
  std::vector<std::pair<std::string, std::uint64_t>> by_site;
  for (const Retainer& t : d.retainers) {
    auto it = std::find_if(by_site.begin(), by_site.end(), [&](const auto& p) { return p.first == t.site; });
    if (it == by_site.end()) {
      by_site.emplace_back(t.site, t.retained_bytes);
    } else {
      it->second += t.retained_bytes;
    }
  }
  for (const auto& [site, bytes] : by_site) {
    absl::StrAppendFormat(&out, "syncscope_lab_retained_bytes{%s,site=\"%s\"} %d\n", sc,
                          label(site), bytes);
  }
  return out;
}

}  // namespace syncscope::lab
