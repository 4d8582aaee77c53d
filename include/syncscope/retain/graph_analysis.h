// Algorithms over an ObjectGraph: shortest retention paths (Dial's bucket
// variant of Dijkstra from all roots at once, hop costs 1 and 3) and the
// dominator tree with retained sizes
// (Cooper, Harvey & Kennedy, "A Simple, Fast Dominance Algorithm", 2001).
//
// Definitions (as in Eclipse MAT):
//   - A virtual super-root S has an edge to every block any root points to.
//   - Block d dominates block n if every path from S to n passes through d.
//   - idom(n) is the unique closest strict dominator; kSuperRootDominator when
//     n is dominated only by S (several roots or root paths reach it).
//   - retained(n) = total size of the blocks n dominates, n included: the
//     bytes that would become unreachable if n alone were freed.
//
// Complexity: shortest paths O(V + E). Dominators: O(V + E) per iteration, a few
// iterations in practice on heap graphs (the algorithm walks reverse
// post-order); worst case O(V^2). Memory: about 24 bytes per block + 8 per
// edge for the reverse graph.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "syncscope/retain/object_graph.h"

namespace syncscope::retain {

// Cost of one hop of a retention path: through a pointer to the target's
// first byte, or through an interior pointer (see Edge::interior). One
// interior hop costs as much as three start hops, so a stale word in a
// block's unused tail does not short-cut a real chain of start pointers
// that is at most one hop longer (two longer ties; the first reached wins).
inline constexpr std::uint32_t kStartHopCost = 1;
inline constexpr std::uint32_t kInteriorHopCost = 3;

// The cheapest-path forest from the roots: for each reachable block, the hop
// it was first reached through at its final cost. Ties (same cost) go to the
// root or holder that comes first (roots in graph order, then holders in
// order of cost and discovery).
struct ShortestPathTree {
  static constexpr std::uint32_t kUnreachable = 0xffffffffu;

  // Per block: hops from a root (1 = pointed to directly by a root) on the
  // chosen path, kUnreachable if no root reaches it.
  std::vector<std::uint32_t> depth;
  // Per block: the path's total hop cost, kUnreachable if unreachable.
  std::vector<std::uint32_t> cost;
  // Per block: the holder block it was reached from, kNoNode if reached from
  // a root (then parent_root is set) or unreachable.
  std::vector<NodeId> parent;
  // Per block reached from a root: the root index; otherwise -1.
  std::vector<std::int32_t> parent_root;
  // Per block: byte offset of the pointer inside the parent (block or root).
  std::vector<std::uint32_t> parent_offset;

  bool reachable(NodeId n) const { return depth[n] != kUnreachable; }
};

// Cheapest paths from every root r with use_root[r] true (all roots when
// use_root is empty). PRECONDITION: use_root empty or of size graph.root_count().
ShortestPathTree shortest_paths(const ObjectGraph& graph,
                                std::span<const bool> use_root = {});

// One step of a path from a root to a target, as indices into the graph.
struct PathStep {
  std::int32_t root = -1;   // set on the first step only
  NodeId block = kNoNode;   // set on every other step
  std::uint32_t offset = 0; // offset in this holder of the pointer to the next step
};

// The chain root -> block -> ... -> target from the tree, or empty when the
// target is unreachable. The last step's offset is 0.
std::vector<PathStep> path_steps(const ShortestPathTree& tree, NodeId target);

struct DominatorTree {
  static constexpr NodeId kSuperRootDominator = 0xfffffffeu;

  // Per block: the immediate dominator block, kSuperRootDominator, or
  // kNoNode when unreachable.
  std::vector<NodeId> idom;
  // Per block: bytes / block count retained (0 when unreachable).
  std::vector<std::uint64_t> retained_bytes;
  std::vector<std::uint64_t> retained_count;
  // Reachable blocks in reverse post-order of the DFS from the super-root
  // (every block comes after its immediate dominator).
  std::vector<NodeId> order;
};

// Computes the dominator tree and retained sizes from the roots selected by
// use_root (all when empty).
DominatorTree compute_dominators(const ObjectGraph& graph,
                                 std::span<const bool> use_root = {});

// Reachability only (no tree), for the leaked-task fixpoint: marks[n] = true
// for every block reachable from the selected roots or from the extra start
// blocks. O(V + E).
std::vector<bool> reachable_set(const ObjectGraph& graph,
                                std::span<const bool> use_root,
                                std::span<const NodeId> extra_starts = {});

}  // namespace syncscope::retain
