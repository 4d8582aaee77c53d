// Presenting one scenario's result: verdict.json (DESIGN §6), metrics.prom
// (Prometheus text), the terminal report and report.html (self-contained,
// inline SVG). All of them are written from the same ScenarioResult.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "lab_types.h"

namespace syncscope::lab {

struct ScenarioResult {
  std::string name;    // "range-spawn"
  std::string title;   // one line: what the scenario is
  std::string story;   // a paragraph: what the code does and why it leaks (or not)
  double seconds = 0;  // workload run time
  Diagnosis diagnosis;
  Verdict verdict;
  // Files written (name inside the scenario folder) and files skipped (name, why).
  std::vector<std::string> files;
  std::vector<std::pair<std::string, std::string>> skipped;
};

std::string verdict_json(const ScenarioResult& r);
std::string metrics_prom(const ScenarioResult& r);
std::string report_html(const ScenarioResult& r);
// The terminal report (plain text, UTF-8 sparkline).
std::string report_text(const ScenarioResult& r);
// "▁▂▃▅▇" over `width` buckets of the samples.
std::string sparkline(const std::vector<HeapSample>& samples, std::size_t width);
// Inline SVG line chart of live bytes over time, warm-up shaded.
std::string heap_svg(const std::vector<HeapSample>& samples, double warmup_s, bool leak);

}  // namespace syncscope::lab
