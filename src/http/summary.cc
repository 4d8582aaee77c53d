#include "http/summary.h"

#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "http/process_stats.h"
#include "http/server_context.h"
#include "http/sources.h"

namespace syncscope::http::internal {
namespace {

using nlohmann::json;

json map_rows(const std::vector<map::NamedMapStats>& maps) {
  json rows = json::array();
  for (const map::NamedMapStats& named : maps) {
    const map::MapStats& m = named.stats;
    rows.push_back({{"name", named.name}, {"kind", m.kind}, {"hits", m.hits}, {"misses", m.misses},
                    {"promotions", m.promotions}, {"dirty_rebuilds", m.dirty_rebuilds},
                    {"expunges", m.expunges}, {"compactions", m.compactions},
                    {"pool_reuses", m.pool_reuses}, {"pool_allocations", m.pool_allocations},
                    {"live_entries", m.live_entries}, {"retired_objects", m.retired_objects},
                    {"retired_bytes", m.retired_bytes}, {"pinned_readers", m.pinned_readers},
                    {"pool_cached_nodes", m.pool_cached_nodes}});
  }
  return rows;
}

void add_heap(json& doc, int top_sites) {
  absl::StatusOr<HeapFigures> h = heap_figures();
  if (!h.ok()) {
    doc["heap"] = nullptr;
    doc["errors"]["heap"] = std::string(h.status().message());
    return;
  }
  doc["heap"] = {{"live_bytes", h->live_bytes}, {"live_objects", h->live_objects},
                 {"allocated_bytes_total", h->allocated_bytes_total},
                 {"freed_bytes_total", h->freed_bytes_total}, {"samples_total", h->samples_total},
                 {"sample_rate_bytes", h->sample_rate_bytes}};
  if (top_sites <= 0) return;
  absl::StatusOr<std::vector<SiteFigure>> sites =
      top_allocation_sites(static_cast<std::size_t>(top_sites));
  if (!sites.ok()) {
    doc["errors"]["top_sites"] = std::string(sites.status().message());
    return;
  }
  for (const SiteFigure& s : *sites) {
    doc["top_sites"].push_back({{"function", s.function}, {"location", s.location},
                                {"inuse_bytes", s.inuse_bytes}, {"inuse_objects", s.inuse_objects},
                                {"alloc_bytes", s.alloc_bytes}});
  }
}

void add_tasks(json& doc) {
  absl::StatusOr<TaskFigures> t = task_figures(kResidentAfterSeconds);
  if (!t.ok()) {
    doc["tasks"] = nullptr;
    doc["errors"]["tasks"] = std::string(t.status().message());
    return;
  }
  doc["tasks"] = {{"live", t->live}, {"resident", t->resident}, {"queued", t->queued},
                  {"running", t->running}, {"blocked", t->blocked},
                  {"spawned_total", t->spawned_total},
                  {"resident_after_s", kResidentAfterSeconds}};
  absl::StatusOr<std::vector<ResidentGroup>> groups = resident_groups(kResidentAfterSeconds);
  if (!groups.ok()) return;
  for (const ResidentGroup& g : *groups) {
    doc["resident"].push_back({{"site", g.site}, {"count", g.count},
                               {"blocking_reason", g.blocking_reason},
                               {"oldest_age_s", g.oldest_age_s}, {"oldest_name", g.oldest_name}});
  }
}

}  // namespace

std::string summary_json(int top_sites) {
  json doc;
  const double now = std::chrono::duration<double>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
  doc["time_s"] = now;
  const PartsPresent p = parts_present();
  doc["parts"] = {{"prof", p.prof}, {"task", p.task}, {"retain", p.retain}, {"map", p.map}};
  doc["errors"] = json::object();
  doc["top_sites"] = json::array();
  doc["resident"] = json::array();
  const ProcessStats ps = read_process_stats();
  doc["process"] = {{"resident_bytes", ps.resident_bytes}, {"threads", ps.threads},
                    {"open_fds", ps.open_fds}, {"cpu_seconds", ps.cpu_seconds}};
  add_heap(doc, top_sites);
  add_tasks(doc);
  doc["maps"] = map_rows(map_figures());
  // Replace invalid UTF-8 (symbol names, thread names) instead of throwing.
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string maps_json() {
  return json{{"maps", map_rows(map_figures())}}.dump(2, ' ', false, json::error_handler_t::replace);
}

std::string maps_text() {
  std::string out = absl::StrFormat("%-24s %-18s %12s %12s %10s %10s %10s %12s %8s\n", "map",
                                    "kind", "hits", "misses", "promotions", "rebuilds",
                                    "entries", "backlog_B", "pinned");
  for (const map::NamedMapStats& named : map_figures()) {
    const map::MapStats& m = named.stats;
    absl::StrAppendFormat(&out, "%-24s %-18s %12d %12d %10d %10d %10d %12d %8d\n", named.name,
                          m.kind, m.hits, m.misses, m.promotions, m.dirty_rebuilds,
                          m.live_entries, m.retired_bytes, m.pinned_readers);
  }
  return out;
}

}  // namespace syncscope::http::internal
