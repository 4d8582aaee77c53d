// One measured figure: a (workload, system, threads) cell of the comparison,
// the unit every output (JSON, CSV, markdown, SVG) is written from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace syncscope::mapbench {

struct Record {
  std::string workload;              // Go's benchmark name, e.g. "LoadMostlyHits"
  std::string system;                // e.g. "ReadMostlyMap", "go_sync_map"
  int threads = 0;                   // worker threads (Go: GOMAXPROCS = -cpu)
  double ns_per_op = 0;              // wall time / total ops, as Go reports it
  double allocs_per_op = 0;          // heap allocations / total ops
  std::uint64_t ops = 0;             // total operations over all threads
  bool na = false;                   // the system lacks an operation the workload needs
  std::string note;                  // why n/a, or a warning
  std::uint64_t errors = 0;          // Go's b.Fatalf conditions seen (0 for a correct map)
  std::optional<double> bytes_per_op;     // Go only (-benchmem B/op)
  std::optional<double> read_ns;          // ReadMostlyCache: mean latency of one load
  std::optional<double> write_ops_per_s;  // ReadMostlyCache: stores per second, all threads
  std::string source;                // "cpp" or "go"
};

}  // namespace syncscope::mapbench
