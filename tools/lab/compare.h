// `lab compare`: runs syncscope-mapbench (found beside the lab binary) in
// quick mode on the ReadMostlyCache workload — the article's read-mostly
// cache — and prints the article's table from its JSON: read latency (ns),
// write throughput (ops/s) and allocations per op, per design, as measured on
// this machine. Writes the JSON and the table under <out>/compare/.
#pragma once

#include <string>

namespace syncscope::lab {

// Returns 0 on success; prints a clear message and returns non-zero when
// mapbench is missing or fails.
int run_compare(const std::string& out_root, int index, int total);

// Path of syncscope-mapbench beside this executable ("" if absent).
std::string find_mapbench();

// The table from mapbench's JSON (exposed for tests). Empty + *error on bad input.
std::string compare_table(const std::string& mapbench_json, std::string* error);

}  // namespace syncscope::lab
