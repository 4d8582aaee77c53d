// Shortest retention paths (multi-source BFS) and the dominator tree
// (Cooper-Harvey-Kennedy iterative algorithm) over an ObjectGraph.
#include "syncscope/retain/graph_analysis.h"

#include <algorithm>
#include <cassert>
#include <utility>

namespace syncscope::retain {
namespace {

bool selected(std::span<const bool> use_root, std::size_t r) {
  return use_root.empty() || use_root[r];
}

}  // namespace

ShortestPathTree shortest_paths(const ObjectGraph& graph, std::span<const bool> use_root) {
  assert(use_root.empty() || use_root.size() == graph.root_count());
  const std::size_t n = graph.block_count();
  ShortestPathTree tree;
  tree.depth.assign(n, ShortestPathTree::kUnreachable);
  tree.cost.assign(n, ShortestPathTree::kUnreachable);
  tree.parent.assign(n, kNoNode);
  tree.parent_root.assign(n, -1);
  tree.parent_offset.assign(n, 0);
  // Dial's algorithm: every pending cost lies in [c, c + kInteriorHopCost]
  // while bucket c is processed, so kInteriorHopCost + 1 buckets, indexed by
  // cost modulo their count, hold the whole frontier. A block may sit in a
  // bucket more than once; entries whose cost has since dropped are skipped.
  constexpr std::uint32_t kBuckets = kInteriorHopCost + 1;
  std::vector<NodeId> bucket[kBuckets];
  std::size_t queued = 0;
  auto relax = [&](const Edge& e, std::uint32_t base_cost, std::uint32_t base_depth, NodeId parent,
                   std::int32_t root) {
    const std::uint32_t c = base_cost + (e.interior ? kInteriorHopCost : kStartHopCost);
    if (c >= tree.cost[e.target]) return;
    tree.cost[e.target] = c;
    tree.depth[e.target] = base_depth + 1;
    tree.parent[e.target] = parent;
    tree.parent_root[e.target] = root;
    tree.parent_offset[e.target] = e.offset;
    bucket[c % kBuckets].push_back(e.target);
    ++queued;
  };
  for (std::size_t r = 0; r < graph.root_count(); ++r) {
    if (!selected(use_root, r)) continue;
    for (const Edge& e : graph.root_edges(r)) relax(e, 0, 0, kNoNode, static_cast<std::int32_t>(r));
  }
  for (std::uint32_t c = 1; queued > 0; ++c) {
    std::vector<NodeId>& now = bucket[c % kBuckets];
    // Hop costs are >= 1, so nothing is pushed into `now` while it drains.
    for (const NodeId v : now) {
      --queued;
      if (tree.cost[v] != c) continue;  // reached more cheaply since
      for (const Edge& e : graph.out_edges(v)) relax(e, c, tree.depth[v], v, -1);
    }
    now.clear();
  }
  return tree;
}

std::vector<PathStep> path_steps(const ShortestPathTree& tree, NodeId target) {
  std::vector<PathStep> steps;
  if (target >= tree.depth.size() || !tree.reachable(target)) return steps;
  // Walk parents back to the root; the offset recorded at a node is the
  // position of the pointer inside its parent, so it belongs to the parent.
  std::uint32_t offset_in_holder = 0;
  NodeId v = target;
  while (true) {
    steps.push_back(PathStep{-1, v, offset_in_holder});
    offset_in_holder = tree.parent_offset[v];
    if (tree.parent[v] == kNoNode) {
      steps.push_back(PathStep{tree.parent_root[v], kNoNode, offset_in_holder});
      break;
    }
    v = tree.parent[v];
  }
  std::reverse(steps.begin(), steps.end());
  return steps;
}

std::vector<bool> reachable_set(const ObjectGraph& graph, std::span<const bool> use_root,
                                std::span<const NodeId> extra_starts) {
  std::vector<bool> marked(graph.block_count(), false);
  std::vector<NodeId> stack;
  auto push = [&](NodeId t) {
    if (!marked[t]) {
      marked[t] = true;
      stack.push_back(t);
    }
  };
  for (std::size_t r = 0; r < graph.root_count(); ++r) {
    if (!selected(use_root, r)) continue;
    for (const Edge& e : graph.root_edges(r)) push(e.target);
  }
  for (NodeId s : extra_starts) {
    if (s < graph.block_count()) push(s);
  }
  while (!stack.empty()) {
    const NodeId v = stack.back();
    stack.pop_back();
    for (const Edge& e : graph.out_edges(v)) push(e.target);
  }
  return marked;
}

namespace {

// Depth-first post-order of the blocks reachable from the super-root.
// Returns the reachable blocks in post-order; the super-root is implied last.
std::vector<NodeId> post_order(const ObjectGraph& graph, std::span<const bool> use_root) {
  const std::size_t n = graph.block_count();
  std::vector<bool> seen(n, false);
  std::vector<NodeId> order;
  // Frame: a block and the index of its next unvisited out edge.
  std::vector<std::pair<NodeId, std::uint32_t>> stack;
  for (std::size_t r = 0; r < graph.root_count(); ++r) {
    if (!selected(use_root, r)) continue;
    for (const Edge& start : graph.root_edges(r)) {
      if (seen[start.target]) continue;
      seen[start.target] = true;
      stack.push_back({start.target, 0});
      while (!stack.empty()) {
        auto& [v, next] = stack.back();
        const auto edges = graph.out_edges(v);
        if (next < edges.size()) {
          const NodeId t = edges[next++].target;
          if (!seen[t]) {
            seen[t] = true;
            stack.push_back({t, 0});
          }
        } else {
          order.push_back(v);
          stack.pop_back();
        }
      }
    }
  }
  return order;
}

}  // namespace

DominatorTree compute_dominators(const ObjectGraph& graph, std::span<const bool> use_root) {
  const std::size_t n = graph.block_count();
  DominatorTree tree;
  tree.idom.assign(n, kNoNode);
  tree.retained_bytes.assign(n, 0);
  tree.retained_count.assign(n, 0);

  // Work in post-order index space: index i < r for blocks, r = super-root.
  const std::vector<NodeId> po = post_order(graph, use_root);
  const std::uint32_t r = static_cast<std::uint32_t>(po.size());
  constexpr std::uint32_t kNone = 0xffffffffu;
  std::vector<std::uint32_t> index_of(n, kNone);
  for (std::uint32_t i = 0; i < r; ++i) index_of[po[i]] = i;

  // Predecessors in CSR, in index space (the super-root is a predecessor of
  // every block a selected root points to).
  std::vector<std::uint64_t> pred_begin(r + 2, 0);
  auto for_each_edge = [&](auto&& f) {
    for (std::size_t k = 0; k < graph.root_count(); ++k) {
      if (!selected(use_root, k)) continue;
      for (const Edge& e : graph.root_edges(k)) f(r, index_of[e.target]);
    }
    for (std::uint32_t i = 0; i < r; ++i) {
      for (const Edge& e : graph.out_edges(po[i])) f(i, index_of[e.target]);
    }
  };
  for_each_edge([&](std::uint32_t, std::uint32_t to) { ++pred_begin[to + 2]; });
  for (std::uint32_t i = 2; i < r + 2; ++i) pred_begin[i] += pred_begin[i - 1];
  std::vector<std::uint32_t> preds(pred_begin[r + 1]);
  for_each_edge([&](std::uint32_t from, std::uint32_t to) { preds[pred_begin[to + 1]++] = from; });
  // pred_begin[i]..pred_begin[i+1] now delimit the predecessors of index i.

  std::vector<std::uint32_t> doms(r + 1, kNone);
  doms[r] = r;
  auto intersect = [&](std::uint32_t a, std::uint32_t b) {
    while (a != b) {
      while (a < b) a = doms[a];
      while (b < a) b = doms[b];
    }
    return a;
  };
  bool changed = true;
  while (changed) {
    changed = false;
    for (std::uint32_t i = r; i-- > 0;) {  // reverse post-order, super-root excluded
      std::uint32_t new_idom = kNone;
      for (std::uint64_t k = pred_begin[i]; k < pred_begin[i + 1]; ++k) {
        const std::uint32_t p = preds[k];
        if (doms[p] == kNone) continue;
        new_idom = new_idom == kNone ? p : intersect(p, new_idom);
      }
      if (new_idom != doms[i]) {
        doms[i] = new_idom;
        changed = true;
      }
    }
  }

  // Retained sizes: children have lower post-order indices than their idom.
  std::vector<std::uint64_t> bytes(r + 1, 0), count(r + 1, 0);
  for (std::uint32_t i = 0; i < r; ++i) {
    bytes[i] += graph.block(po[i]).size;
    count[i] += 1;
    bytes[doms[i]] += bytes[i];
    count[doms[i]] += count[i];
  }
  tree.order.reserve(r);
  for (std::uint32_t i = r; i-- > 0;) {
    const NodeId v = po[i];
    tree.order.push_back(v);
    tree.idom[v] = doms[i] == r ? DominatorTree::kSuperRootDominator : po[doms[i]];
    tree.retained_bytes[v] = bytes[i];
    tree.retained_count[v] = count[i];
  }
  return tree;
}

}  // namespace syncscope::retain
