// Writers for the records of a run: JSON (the DESIGN §6 list of records),
// CSV (same fields), markdown tables, and the SVG throughput chart.
#pragma once

#include <string>
#include <vector>

#include "machine.h"
#include "record.h"

namespace syncscope::mapbench {

// Context printed at the top of the markdown and SVG outputs.
struct RunContext {
  Machine machine;
  std::string command;       // the command line that produced the run
  std::string duration;      // per-run duration, human-readable
  std::string date;          // UTC, ISO 8601
  std::vector<std::string> workloads;  // table row order
  std::vector<std::string> systems;    // table column order
  std::vector<int> threads;
};

// A JSON array of objects {workload, system, threads, ns_per_op, allocs_per_op,
// ops, na, source, ...}; n/a records carry null figures and a note.
std::string render_json(const std::vector<Record>& records);
std::string render_csv(const std::vector<Record>& records);
// One table per thread count (rows: workloads; columns: systems; cells:
// "ns/op · allocs/op"), then the read-mostly cache table.
std::string render_markdown(const std::vector<Record>& records, const RunContext& ctx);
// Throughput (Mops/s, log scale) against threads, one panel per charted workload.
std::string render_svg(const std::vector<Record>& records, const RunContext& ctx);

// Workloads the SVG charts, when present in the run.
inline const std::vector<std::string> kChartedWorkloads = {"LoadMostlyHits", "ReadMostlyCache",
                                                           "LoadOrStoreBalanced"};

// Writes text to path; false (with errno's message in error) on failure.
bool write_file(const std::string& path, const std::string& text, std::string& error);

}  // namespace syncscope::mapbench
