// verdict.json, exactly DESIGN §6's schema plus a few added fields
// (unavailable, notes, slope, tolerance, pinned_readers, leaked_tasks, files).
#include <nlohmann/json.hpp>

#include "report.h"

namespace syncscope::lab {

std::string verdict_json(const ScenarioResult& r) {
  const Diagnosis& d = r.diagnosis;
  const Verdict& v = r.verdict;
  nlohmann::json j;
  j["scenario"] = r.name;
  j["leak"] = v.leak;
  j["cause"] = v.cause;
  j["live_bytes_start"] = v.live_bytes_start;
  j["live_bytes_end"] = v.live_bytes_end;
  j["resident_tasks"] = nlohmann::json::array();
  for (const ResidentGroup& g : d.resident) {
    j["resident_tasks"].push_back({{"spawn_site", g.spawn_site},
                                   {"name", g.name},
                                   {"count", g.count},
                                   {"blocking_reason", g.blocking_reason},
                                   {"oldest_age_s", g.oldest_age_s}});
  }
  j["retention_path"] = nlohmann::json::array();
  for (const Hop& h : d.retention_path) {
    j["retention_path"].push_back(
        {{"kind", h.kind}, {"site", h.site}, {"offset", h.offset}, {"size", h.size}});
  }
  j["top_retainers"] = nlohmann::json::array();
  for (const Retainer& t : d.retainers) {
    j["top_retainers"].push_back({{"site", t.site},
                                  {"retained_bytes", t.retained_bytes},
                                  {"retained_objects", t.retained_objects}});
  }
  // Additions beyond the stable schema.
  j["seconds"] = r.seconds;
  j["warmup_s"] = d.warmup_s;
  j["growth_bytes"] = v.growth_bytes;
  j["block_source"] = d.retention_block_source;
  j["slope_bytes_per_s"] = v.slope_bytes_per_s;
  j["tolerance_bytes"] = v.tolerance_bytes;
  j["heap_source"] = d.heap_source;
  j["heap_samples"] = d.heap.size();
  j["pinned_readers"] = nlohmann::json::array();
  for (const PinnedReaderInfo& p : d.pinned_readers) {
    j["pinned_readers"].push_back({{"tid", p.tid},
                                   {"thread_name", p.thread_name},
                                   {"pinned_for_s", p.pinned_for_s},
                                   {"epoch_lag", p.epoch_lag},
                                   {"held_back_objects", p.held_back_objects},
                                   {"held_back_bytes", p.held_back_bytes}});
  }
  j["map_backlog"] = {{"objects", d.backlog_objects}, {"bytes", d.backlog_bytes}};
  j["leaked_tasks"] = nlohmann::json::array();
  for (const LeakedTaskInfo& t : d.leaked_tasks) {
    j["leaked_tasks"].push_back({{"name", t.name},
                                 {"spawn_site", t.spawn_site},
                                 {"blocking_reason", t.blocking_reason},
                                 {"age_s", t.age_s}});
  }
  j["grown_sites"] = nlohmann::json::array();
  for (const SiteBytes& s : d.grown_sites) {
    j["grown_sites"].push_back({{"site", s.site}, {"bytes", s.bytes}, {"objects", s.objects}});
  }
  j["workload"] = d.workload_summary;
  j["unavailable"] = d.unavailable;
  j["notes"] = d.notes;
  j["files"] = r.files;
  return j.dump(2) + "\n";
}

}  // namespace syncscope::lab
