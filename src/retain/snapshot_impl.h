// Private state of a RetentionSnapshot: the graph, its analyses, and how to
// name its sites and roots (symbolization is lazy and cached).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/annotated_mutex.h"
#include "syncscope/retain/graph_analysis.h"
#include "syncscope/retain/retention.h"

namespace syncscope::retain {

// Describes one word of a root: (root index, byte offset in the root) ->
// its fields (thread, frame, register, module, symbol).
using RootNamer = std::function<RootDetail(std::size_t root, std::uint64_t offset)>;

// A task as the registry reported it at snapshot time, reduced to what the
// leaked-task query needs.
struct TaskRecord {
  std::uint64_t id = 0;
  std::string name;
  std::string spawn_site;
  std::string blocking_reason;
  // hide_address(wait object), 0 when not blocked on an object: stored
  // hidden so a snapshot kept alive does not hold every wait object.
  std::uintptr_t wait_object_hidden = 0;
  bool blocked = false;
  double age_s = 0;
  // Roots that belong to the thread running this task (its stack, registers,
  // TLS); these roots count only if the task can run.
  std::vector<std::size_t> own_roots;
};

struct RetentionSnapshot::Impl {
  ObjectGraph graph;
  ShortestPathTree paths;
  std::optional<DominatorTree> dominators;
  SnapshotStats stats;
  SiteDescriber describe;  // never empty after construction
  RootNamer name_root;     // never empty after construction
  std::vector<TaskRecord> tasks;
  // [blocks] the label id of each block's C++ type, found through its
  // vtable pointer (0 = unknown); names through `describe`.
  std::vector<std::uint32_t> block_types;

  // Cached description of a site (thread-safe).
  const SiteDescription& site(std::uint32_t id) const;
  // The path report for block `n`, with `target_offset` on the last hop.
  RetentionPath path_for(NodeId n, std::uint64_t target_offset) const;

 private:
  mutable common::Mutex mu_;
  // Node-based so references stay valid across insertions.
  mutable std::unordered_map<std::uint32_t, SiteDescription> site_cache_ ABSL_GUARDED_BY(mu_);
};

namespace internal {

// The one door to a snapshot's private state: the builders (from_graph, the
// live snapshot, the synthetic graphs of tests) make a snapshot from an
// Impl, and the queries outside the class read it.
struct SnapshotAccess {
  using Impl = RetentionSnapshot::Impl;
  static RetentionSnapshot make(std::unique_ptr<Impl> impl) { return RetentionSnapshot(std::move(impl)); }
  static const Impl& impl(const RetentionSnapshot& snapshot) { return *snapshot.impl_; }
};

}  // namespace internal

using SnapshotImpl = internal::SnapshotAccess::Impl;

// Runs the analyses and fills the defaults; used by from_graph and the live
// snapshot.
std::unique_ptr<SnapshotImpl> analyse(std::unique_ptr<SnapshotImpl> impl, bool compute_dominators);

}  // namespace syncscope::retain
