// metrics.prom: the scenario's final figures in Prometheus text exposition
// format (promtool check metrics accepts it).
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "report.h"
#include "syncscope/http/prometheus_writer.h"

namespace syncscope::lab {

std::string metrics_prom(const ScenarioResult& r) {
  using Writer = syncscope::http::PrometheusWriter;
  const Diagnosis& d = r.diagnosis;
  const Verdict& v = r.verdict;
  const http::Labels sc{{"scenario", r.name}};
  const auto with = [&](std::initializer_list<std::pair<std::string, std::string>> more) {
    http::Labels l = sc;
    l.insert(l.end(), more.begin(), more.end());
    return l;
  };
  Writer w;
  const auto gauge = [&](std::string_view name, std::string_view help, double value) {
    w.family(name, Writer::Type::kGauge, help);
    w.sample(sc, value);
  };
  gauge("syncscope_lab_leak", "1 when the detector found a leak", v.leak ? 1 : 0);
  gauge("syncscope_lab_live_bytes_start", "Live heap bytes after warm-up", static_cast<double>(v.live_bytes_start));
  gauge("syncscope_lab_live_bytes_end", "Live heap bytes at the end", static_cast<double>(v.live_bytes_end));
  gauge("syncscope_lab_live_bytes_slope", "Least-squares growth of live heap bytes per second", v.slope_bytes_per_s);
  gauge("syncscope_lab_map_backlog_bytes", "Retired but unfreed bytes of the scenario's map",
        static_cast<double>(d.backlog_bytes));
  gauge("syncscope_lab_pinned_readers", "Threads pinned in the epoch domain for over 0.5 s",
        static_cast<double>(d.pinned_readers.size()));
  w.family("syncscope_lab_resident_tasks", Writer::Type::kGauge, "Resident tasks by spawn site");
  for (const ResidentGroup& g : d.resident) {  // one group per spawn site
    w.sample(with({{"site", g.spawn_site}, {"reason", g.blocking_reason}}), static_cast<double>(g.count));
  }
  w.family("syncscope_lab_retained_bytes", Writer::Type::kGauge,
           "Bytes retained by allocation site (top retainers)");
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
  for (const auto& [site, bytes] : by_site) w.sample(with({{"site", site}}), static_cast<double>(bytes));
  return w.take();
}

}  // namespace syncscope::lab
