// Leak suspects: retained bytes grouped by allocation site. A block counts
// for its site only when no strict dominator of it has the same site, so a
// linked list of 10^5 nodes from one site counts once (its head retains the
// rest), never 10^5 times.
#include <algorithm>
#include <unordered_map>
#include <utility>

#include "retain/snapshot_impl.h"

namespace syncscope::retain {
namespace {

// Children lists of the dominator tree in CSR form; index n = super-root.
struct DomChildren {
  std::vector<std::uint64_t> begin;
  std::vector<NodeId> child;
};

DomChildren dom_children(const DominatorTree& dom, std::size_t n) {
  auto parent_of = [&](NodeId v) -> std::size_t {
    return dom.idom[v] == DominatorTree::kSuperRootDominator ? n : dom.idom[v];
  };
  DomChildren c;
  // Counting pass writes begin[parent + 2] with parent <= n (the super-root),
  // so n + 3 entries; the DFS then reads begin[0 .. n + 1].
  c.begin.assign(n + 3, 0);
  for (NodeId v : dom.order) ++c.begin[parent_of(v) + 2];
  for (std::size_t i = 2; i < c.begin.size(); ++i) c.begin[i] += c.begin[i - 1];
  c.child.resize(dom.order.size());
  for (NodeId v : dom.order) c.child[c.begin[parent_of(v) + 1]++] = v;
  return c;
}

}  // namespace

std::vector<SiteRetainer> RetentionSnapshot::top_retainers(std::size_t n) const {
  if (!impl_->dominators) return {};
  const ObjectGraph& g = impl_->graph;
  const DominatorTree& dom = *impl_->dominators;
  const std::size_t count = g.block_count();
  const DomChildren tree = dom_children(dom, count);

  struct Acc {
    SiteRetainer r;
    NodeId best = kNoNode;  // the site's block with the largest retained size
  };
  std::unordered_map<std::uint32_t, Acc> acc;
  std::unordered_map<std::uint32_t, std::uint32_t> on_path;  // site -> blocks on DFS path
  // Iterative DFS over the dominator tree; a frame is (node, next child).
  std::vector<std::pair<std::size_t, std::uint64_t>> stack{{count, tree.begin[count]}};
  while (!stack.empty()) {
    auto& [v, next] = stack.back();
    if (next < tree.begin[v + 1]) {
      const NodeId c = tree.child[next++];
      const std::uint32_t site = g.block(c).site;
      Acc& a = acc[site];
      if (on_path[site]++ == 0) {
        a.r.retained_bytes += dom.retained_bytes[c];
        a.r.retained_objects += dom.retained_count[c];
        if (a.best == kNoNode || dom.retained_bytes[a.best] < dom.retained_bytes[c]) a.best = c;
      }
      a.r.live_bytes += g.block(c).size;
      a.r.live_objects += 1;
      stack.push_back({c, tree.begin[c]});
    } else {
      if (v != count) --on_path[g.block(static_cast<NodeId>(v)).site];
      stack.pop_back();
    }
  }
  std::vector<std::pair<std::uint32_t, Acc>> sorted(acc.begin(), acc.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second.r.retained_bytes != b.second.r.retained_bytes
               ? a.second.r.retained_bytes > b.second.r.retained_bytes
               : a.first < b.first;
  });
  if (sorted.size() > n) sorted.resize(n);
  std::vector<SiteRetainer> out;
  for (auto& [site, a] : sorted) {
    const SiteDescription& d = impl_->site(site);
    a.r.site = site;
    a.r.site_name = d.name;
    a.r.site_frames = d.frames;
    a.r.example_path = impl_->path_for(a.best, 0);
    out.push_back(std::move(a.r));
  }
  return out;
}

}  // namespace syncscope::retain
