// RetentionSnapshot queries: paths, leak suspects (top retainers by site),
// per-site totals and growth between snapshots.
#include <algorithm>
#include <chrono>
#include <string>
#include <unordered_map>
#include <utility>

#include "retain/block_labels.h"
#include "retain/snapshot_impl.h"

namespace syncscope::retain {

const char* block_source_name(BlockSource source) {
  switch (source) {
    case BlockSource::kExactTable: return "exact live-block table";
    case BlockSource::kHeapWalk: return "glibc heap walk";
    case BlockSource::kAuto: break;
  }
  return "auto";
}

const SiteDescription& RetentionSnapshot::Impl::site(std::uint32_t id) const {
  {
    common::MutexLock lock(mu_);
    auto it = site_cache_.find(id);
    if (it != site_cache_.end()) return it->second;
  }
  // Describe outside the lock: symbolization can be slow.
  SiteDescription description = describe(id);
  common::MutexLock lock(mu_);
  return site_cache_.emplace(id, std::move(description)).first->second;
}

RetentionPath RetentionSnapshot::Impl::path_for(NodeId n, std::uint64_t target_offset) const {
  RetentionPath path;
  const GraphBlock& target = graph.block(n);
  path.found = true;
  path.reachable = paths.reachable(n);
  path.target_site = target.site;
  path.target_site_name = site(target.site).name;
  path.target_size = target.size;
  if (dominators) path.retained_bytes = dominators->retained_bytes[n];
  for (const PathStep& step : path_steps(paths, n)) {
    PathHop hop;
    hop.offset = step.offset;
    if (step.root >= 0) {
      const Root& root = graph.root(static_cast<std::size_t>(step.root));
      hop.is_root = true;
      hop.root_kind = root.kind;
      hop.root = name_root(static_cast<std::size_t>(step.root), step.offset);
      const RootDetail& d = hop.root;
      const bool detailed = d.thread_id != 0 || !d.module.empty() || !d.thread_name.empty();
      hop.name = detailed ? render_root(root.kind, d) : root.name;
      hop.size = root.size;
    } else {
      const GraphBlock& b = graph.block(step.block);
      const SiteDescription& d = site(b.site);
      hop.name = d.name;
      hop.site_frames = d.frames;
      hop.site = b.site;
      hop.site_is_allocation = b.site != 0 && !internal::is_label(b.site);
      if (step.block < block_types.size() && block_types[step.block] != 0) hop.type = site(block_types[step.block]).name;
      hop.size = b.size;
    }
    path.hops.push_back(std::move(hop));
  }
  if (!path.hops.empty()) path.hops.back().offset = target_offset;
  return path;
}

std::unique_ptr<SnapshotImpl> analyse(std::unique_ptr<SnapshotImpl> impl, bool compute_dominators) {
  const auto start = std::chrono::steady_clock::now();
  if (!impl->describe) {
    impl->describe = [](std::uint32_t id) {
      return SiteDescription{"site#" + std::to_string(id), {}};
    };
  }
  if (!impl->name_root) {
    impl->name_root = [](std::size_t, std::uint64_t) { return RootDetail{}; };
  }
  impl->paths = shortest_paths(impl->graph);
  if (compute_dominators) impl->dominators = retain::compute_dominators(impl->graph);
  impl->stats.blocks = impl->graph.block_count();
  impl->stats.edges = impl->graph.edge_count();
  impl->stats.roots = impl->graph.root_count();
  impl->stats.root_edges = impl->graph.root_edge_count();
  impl->stats.analysis_ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
          .count());
  return impl;
}

RetentionSnapshot RetentionSnapshot::from_graph(ObjectGraph graph, SiteDescriber describe,
                                                bool compute_dominators) {
  auto impl = std::make_unique<Impl>();
  impl->graph = std::move(graph);
  impl->describe = std::move(describe);
  return RetentionSnapshot(analyse(std::move(impl), compute_dominators));
}

RetentionSnapshot::RetentionSnapshot(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RetentionSnapshot::RetentionSnapshot(RetentionSnapshot&&) noexcept = default;
RetentionSnapshot& RetentionSnapshot::operator=(RetentionSnapshot&&) noexcept = default;
RetentionSnapshot::~RetentionSnapshot() = default;

const ObjectGraph& RetentionSnapshot::graph() const { return impl_->graph; }
const SnapshotStats& RetentionSnapshot::stats() const { return impl_->stats; }

RetentionPath RetentionSnapshot::path_to(std::uintptr_t address) const {
  const auto n = impl_->graph.find_containing(address);
  if (!n) return RetentionPath{};
  return impl_->path_for(*n, address - impl_->graph.block(*n).address);
}

namespace {

bool site_matches(const SiteDescription& d, std::string_view needle) {
  if (d.name.find(needle) != std::string::npos) return true;
  return std::any_of(d.frames.begin(), d.frames.end(), [&](const std::string& f) {
    return f.find(needle) != std::string::npos;
  });
}

}  // namespace

namespace {

// Paths to `hits`: reachable first, cheapest path first, then larger blocks.
std::vector<RetentionPath> paths_to_nodes(const SnapshotImpl& impl, std::vector<NodeId> hits,
                                          std::size_t max_paths) {
  const ObjectGraph& g = impl.graph;
  const ShortestPathTree& t = impl.paths;
  std::sort(hits.begin(), hits.end(), [&](NodeId a, NodeId b) {
    if (t.cost[a] != t.cost[b]) return t.cost[a] < t.cost[b];
    if (g.block(a).size != g.block(b).size) return g.block(a).size > g.block(b).size;
    return a < b;
  });
  if (hits.size() > max_paths) hits.resize(max_paths);
  std::vector<RetentionPath> out;
  for (NodeId n : hits) out.push_back(impl.path_for(n, 0));
  return out;
}

}  // namespace

std::vector<RetentionPath> RetentionSnapshot::paths_to_site(std::string_view function_substring,
                                                            std::size_t max_paths) const {
  const ObjectGraph& g = impl_->graph;
  std::unordered_map<std::uint32_t, bool> matches;
  std::vector<NodeId> hits;
  for (NodeId n = 0; n < g.block_count(); ++n) {
    const std::uint32_t s = g.block(n).site;
    auto it = matches.find(s);
    if (it == matches.end()) it = matches.emplace(s, site_matches(impl_->site(s), function_substring)).first;
    if (it->second) hits.push_back(n);
  }
  return paths_to_nodes(*impl_, std::move(hits), max_paths);
}

std::vector<RetentionPath> RetentionSnapshot::paths_to_type(std::string_view type, std::size_t max_paths) const {
  const std::vector<std::uint32_t>& types = impl_->block_types;
  std::unordered_map<std::uint32_t, bool> matches;
  std::vector<NodeId> hits;
  for (NodeId n = 0; n < types.size(); ++n) {
    if (types[n] == 0) continue;
    auto it = matches.find(types[n]);
    if (it == matches.end())
      it = matches.emplace(types[n], internal::type_matches(impl_->site(types[n]).name, type)).first;
    if (it->second) hits.push_back(n);
  }
  return paths_to_nodes(*impl_, std::move(hits), max_paths);
}

std::vector<std::pair<std::uint32_t, RetentionSnapshot::SiteTotals>>
RetentionSnapshot::site_totals() const {
  const ObjectGraph& g = impl_->graph;
  std::unordered_map<std::uint32_t, SiteTotals> totals;
  for (NodeId n = 0; n < g.block_count(); ++n) {
    SiteTotals& t = totals[g.block(n).site];
    t.bytes += g.block(n).size;
    t.objects += 1;
    if (t.largest == kNoNode || g.block(t.largest).size < g.block(n).size) t.largest = n;
  }
  std::vector<std::pair<std::uint32_t, SiteTotals>> out(totals.begin(), totals.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.second.bytes != b.second.bytes ? a.second.bytes > b.second.bytes : a.first < b.first;
  });
  return out;
}

std::vector<SiteGrowth> growth(const RetentionSnapshot& before, const RetentionSnapshot& after,
                               std::size_t n) {
  return growth(before.site_totals(), after, {.max_sites = n});
}

std::vector<SiteGrowth> growth(const std::vector<std::pair<std::uint32_t, RetentionSnapshot::SiteTotals>>& before,
                               const RetentionSnapshot& after, const prof::GrowthOptions& options) {
  const auto figures = [](const std::vector<std::pair<std::uint32_t, RetentionSnapshot::SiteTotals>>& totals) {
    prof::SiteFigures<std::uint32_t> out;
    out.reserve(totals.size());
    for (const auto& [site, t] : totals) {
      out.push_back({site, {static_cast<std::int64_t>(t.bytes), static_cast<std::int64_t>(t.objects)}});
    }
    return out;
  };
  const std::vector<std::pair<std::uint32_t, RetentionSnapshot::SiteTotals>> now = after.site_totals();
  std::unordered_map<std::uint32_t, NodeId> largest;
  for (const auto& [site, t] : now) largest.emplace(site, t.largest);
  const SnapshotImpl& impl = internal::SnapshotAccess::impl(after);
  std::vector<SiteGrowth> out;
  for (const prof::SiteGain<std::uint32_t>& g : prof::grown_sites(figures(before), figures(now), options)) {
    SiteGrowth r;
    r.site = g.site;
    r.site_name = impl.site(g.site).name;
    r.bytes_before = static_cast<std::uint64_t>(g.before.bytes);
    r.bytes_after = static_cast<std::uint64_t>(g.after.bytes);
    r.objects_before = static_cast<std::uint64_t>(g.before.objects);
    r.objects_after = static_cast<std::uint64_t>(g.after.objects);
    r.example_path = impl.path_for(largest.at(g.site), 0);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace syncscope::retain
