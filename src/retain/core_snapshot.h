// A RetentionSnapshot of a core file: the same heap walk, scan, block labels
// and analyse() as a live snapshot (live_snapshot.cc), over a
// CoreMemoryImage instead of this process, with roots from the core (each
// module's writable segments named by symbol, each thread's stack from its
// saved stack pointer, its registers, its static TLS block) and names from
// the modules' files on disk (CoreSymbols). When the program ran the heap
// profiler, its sampled blocks are named by allocation site
// (core_sampled_sites.h).
//
// When not to use: for a running process take_snapshot() needs no core.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "retain/core_file.h"
#include "retain/core_symbols.h"
#include "retain/glibc_heap_walker.h"
#include "syncscope/retain/retention.h"

namespace syncscope::retain::internal {

struct CoreSnapshotOptions {
  std::string exe;      // the program's file ("" = the path the core names)
  std::string sysroot;  // prefixed to every module path but exe's ("" = /)
  bool compute_dominators = true;
};

// Everything one core's analysis produced. The snapshot's namers refer to
// `symbols`, so the snapshot must not outlive this object.
struct CoreSnapshot {
  std::unique_ptr<CoreFile> core;
  std::unique_ptr<CoreSymbols> symbols;
  HeapWalkStats walk;
  std::uint64_t walk_ns = 0;
  std::uint64_t scan_ns = 0;
  std::uint64_t memory_bytes = 0;  // scanner buffers while the graph was built
  std::uint64_t analysis_ns = 0;   // graph, shortest paths, dominators
  // Largest private (anonymous) resident memory of this process seen at the
  // analysis' peaks (scan buffers alive; graph built; analysed): what the
  // analysis costs beyond the core's own pages, which are file-backed and
  // reclaimable. Sampled from /proc/self/status, so a lower bound of the
  // true peak by at most what happens between samples.
  std::uint64_t anon_peak_bytes = 0;
  // Blocks named by a heap-profile sample (the program ran the profiler),
  // and why the samples were not used when they were not ("" otherwise).
  std::uint64_t sampled_blocks = 0;
  std::string sampled_note;
  std::optional<RetentionSnapshot> snapshot;  // set on success
};

// Errors (one line each): the core cannot be read (core_file.h), --exe does
// not exist (NotFound), the heap is not a glibc heap this build knows
// (Internal "heap layout not recognised: ..."), scanner memory exhausted.
absl::StatusOr<std::unique_ptr<CoreSnapshot>> snapshot_core(const std::string& path,
                                                             const CoreSnapshotOptions& options);

}  // namespace syncscope::retain::internal
