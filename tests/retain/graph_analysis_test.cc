// The abstract retention core on synthetic graphs: containment lookup,
// shortest paths from roots, and the dominator tree checked against a
// brute-force "remove one block, see what becomes unreachable" computation.
#include "syncscope/retain/graph_analysis.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "syncscope/retain/object_graph.h"

namespace syncscope::retain {
namespace {

constexpr std::uintptr_t kBase = 0x100000;
constexpr std::uintptr_t kStride = 0x100;

std::uintptr_t addr(std::size_t i) { return kBase + i * kStride; }

Root make_root(RootKind kind, const char* name) {
  Root r;
  r.kind = kind;
  r.name = name;
  r.size = 4096;
  return r;
}

TEST(ObjectGraph, FindContaining_InteriorPointers) {
  GraphBuilder b;
  b.add_block(addr(2), 48, 7);
  b.add_block(addr(1), 16, 6);
  b.add_block(addr(3), 0, 8);
  ObjectGraph g = std::move(b).build();
  ASSERT_EQ(g.block_count(), 3u);
  EXPECT_EQ(g.find_containing(addr(1)), NodeId{0});
  EXPECT_EQ(g.find_containing(addr(1) + 15), NodeId{0});
  EXPECT_FALSE(g.find_containing(addr(1) + 16).has_value());
  EXPECT_EQ(g.find_containing(addr(2) + 47), NodeId{1});
  EXPECT_EQ(g.find_containing(addr(3)), NodeId{2});
  EXPECT_FALSE(g.find_containing(addr(3) + 1).has_value());
  EXPECT_FALSE(g.find_containing(kBase).has_value());
}

TEST(ShortestPaths, Chain_StepsCarryHolderOffsets) {
  GraphBuilder b;
  for (std::size_t i = 0; i < 4; ++i) b.add_block(addr(i), 64, static_cast<std::uint32_t>(i));
  const auto stack = b.add_root(make_root(RootKind::kStack, "stack"));
  b.add_root_edge_at(stack, 40, addr(0) + 8);  // interior pointer into block 0
  b.add_edge_at(addr(0), 16, addr(1));
  b.add_edge_at(addr(1), 24, addr(2) + 32);
  ObjectGraph g = std::move(b).build();
  const ShortestPathTree t = shortest_paths(g);
  const auto steps = path_steps(t, 2);
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[0].root, 0);
  EXPECT_EQ(steps[0].offset, 40u);
  EXPECT_EQ(steps[1].block, 0u);
  EXPECT_EQ(steps[1].offset, 16u);
  EXPECT_EQ(steps[2].block, 1u);
  EXPECT_EQ(steps[2].offset, 24u);
  EXPECT_EQ(steps[3].block, 2u);
  EXPECT_FALSE(t.reachable(3));
  EXPECT_TRUE(path_steps(t, 3).empty());
}

// The same target reachable from a global in 3 hops and a stack in 2 (and
// the other way round): the shorter one wins whatever the root order.
TEST(ShortestPaths, GlobalVersusStack_ShortestChosen) {
  for (bool global_shorter : {false, true}) {
    GraphBuilder b;
    for (std::size_t i = 0; i < 4; ++i) b.add_block(addr(i), 32, static_cast<std::uint32_t>(i));
    const auto global = b.add_root(make_root(RootKind::kGlobal, "global"));
    const auto stack = b.add_root(make_root(RootKind::kStack, "stack"));
    const std::uintptr_t target = addr(3);
    // long route: root -> 0 -> 1 -> target; short route: root -> 2 -> target.
    const auto long_root = global_shorter ? stack : global;
    const auto short_root = global_shorter ? global : stack;
    b.add_root_edge_at(long_root, 0, addr(0));
    b.add_edge_at(addr(0), 8, addr(1));
    b.add_edge_at(addr(1), 8, target);
    b.add_root_edge_at(short_root, 8, addr(2));
    b.add_edge_at(addr(2), 16, target);
    ObjectGraph g = std::move(b).build();
    const auto steps = path_steps(shortest_paths(g), 3);
    ASSERT_EQ(steps.size(), 3u);
    EXPECT_EQ(steps[0].root, static_cast<std::int32_t>(short_root));
    EXPECT_EQ(steps[1].block, 2u);
    EXPECT_EQ(steps[1].offset, 16u);
  }
}

// A stale word in a block's tail pointing into the middle of the target (two
// hops, one interior: cost 1 + 3) against the real chain of start pointers
// (three hops, cost 3): the chain wins. One more start hop ties at 4 and the
// path reached first (the short-cut) wins; two more and the short-cut wins.
TEST(ShortestPaths, StartPointersPreferredOverInteriorShortcut) {
  for (int extra_hops : {0, 1, 2}) {
    GraphBuilder b;
    const std::size_t target = 9;
    for (std::size_t i = 0; i <= target; ++i) b.add_block(addr(i), 64, static_cast<std::uint32_t>(i));
    const auto stack = b.add_root(make_root(RootKind::kStack, "stack"));
    // Real chain: stack -> 0 -> 1 (-> 2 -> 3) -> target, all start pointers.
    b.add_root_edge_at(stack, 0, addr(0));
    std::size_t last = 0;
    for (int h = 0; h < 1 + extra_hops; ++h, ++last) b.add_edge_at(addr(last), 8, addr(last + 1));
    b.add_edge_at(addr(last), 8, addr(target));
    // Shortcut: stack -> 5 -> (middle of) target.
    b.add_root_edge_at(stack, 16, addr(5));
    b.add_edge_at(addr(5), 24, addr(target) + 40);
    ObjectGraph g = std::move(b).build();
    const ShortestPathTree t = shortest_paths(g);
    const auto steps = path_steps(t, static_cast<NodeId>(target));
    ASSERT_FALSE(steps.empty());
    const bool via_shortcut = steps.size() == 3 && steps[1].block == 5u;
    EXPECT_EQ(via_shortcut, extra_hops >= 1) << "extra start hops: " << extra_hops;
    EXPECT_EQ(t.cost[target], extra_hops == 0 ? 3u : 4u);
    EXPECT_EQ(t.depth[target], static_cast<std::uint32_t>(steps.size() - 1));
  }
}

TEST(ShortestPaths, RootFilter_ExcludesRoots) {
  GraphBuilder b;
  b.add_block(addr(0), 8, 0);
  const auto r0 = b.add_root(make_root(RootKind::kStack, "a"));
  b.add_root(make_root(RootKind::kStack, "b"));
  b.add_root_edge_at(r0, 0, addr(0));
  ObjectGraph g = std::move(b).build();
  const bool none[] = {false, true};
  EXPECT_FALSE(shortest_paths(g, none).reachable(0));
  EXPECT_FALSE(reachable_set(g, none)[0]);
  const NodeId extra[] = {0};
  EXPECT_TRUE(reachable_set(g, none, extra)[0]);
}

// Random graph: n blocks, a few roots, sparse random edges (cycles and
// self-loops included), some blocks unreachable.
ObjectGraph random_graph(std::uint32_t seed, std::size_t n) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> node(0, n - 1);
  std::uniform_int_distribution<std::uint64_t> size(1, 200);
  GraphBuilder b;
  for (std::size_t i = 0; i < n; ++i) b.add_block(addr(i), size(rng), static_cast<std::uint32_t>(i % 17));
  const std::size_t roots = 1 + seed % 4;
  for (std::size_t r = 0; r < roots; ++r) {
    const auto id = b.add_root(make_root(RootKind::kOther, "r"));
    const std::size_t fan = 1 + (seed + r) % 3;
    for (std::size_t k = 0; k < fan; ++k) b.add_root_edge_at(id, k * 8, addr(node(rng)));
  }
  // Mean out-degree varies with the seed: tree-like to dense.
  const double degree = 0.8 + static_cast<double>(seed % 5) * 0.6;
  const std::size_t edges = static_cast<std::size_t>(degree * static_cast<double>(n));
  for (std::size_t k = 0; k < edges; ++k) {
    const std::size_t from = node(rng);
    // Bias towards "forward" edges so long chains and real dominance exist.
    std::size_t to = rng() % 4 == 0 ? node(rng) : std::min(n - 1, from + 1 + rng() % 8);
    b.add_edge_at(addr(from), (k % 8) * 8, addr(to) + (k % 3));
  }
  return std::move(b).build();
}

// Blocks reachable from all roots when `removed` is deleted from the graph.
std::vector<bool> reachable_without(const ObjectGraph& g, NodeId removed) {
  std::vector<bool> seen(g.block_count(), false);
  std::vector<NodeId> stack;
  auto push = [&](NodeId t) {
    if (t != removed && !seen[t]) {
      seen[t] = true;
      stack.push_back(t);
    }
  };
  for (std::size_t r = 0; r < g.root_count(); ++r)
    for (const Edge& e : g.root_edges(r)) push(e.target);
  while (!stack.empty()) {
    const NodeId v = stack.back();
    stack.pop_back();
    for (const Edge& e : g.out_edges(v)) push(e.target);
  }
  return seen;
}

TEST(Dominators, MatchesBruteForce_RandomGraphs) {
  constexpr std::size_t kNodes = 1000;
  std::size_t nontrivial = 0;  // blocks with a block as idom: the test has teeth
  for (std::uint32_t seed = 1; seed <= 24; ++seed) {
    SCOPED_TRACE(seed);
    const ObjectGraph g = random_graph(seed, kNodes);
    const DominatorTree dom = compute_dominators(g);
    const std::vector<bool> all = reachable_without(g, kNoNode);
    // dominated_by[d] = blocks that become unreachable when d is removed
    // (d itself included): exactly the blocks d dominates.
    std::vector<std::vector<bool>> dominated_by(kNodes);
    std::size_t reachable = 0;
    for (NodeId d = 0; d < kNodes; ++d) {
      if (!all[d]) {
        EXPECT_EQ(dom.idom[d], kNoNode);
        EXPECT_EQ(dom.retained_bytes[d], 0u);
        continue;
      }
      ++reachable;
      const std::vector<bool> without = reachable_without(g, d);
      dominated_by[d].assign(kNodes, false);
      std::uint64_t bytes = 0, count = 0;
      for (NodeId v = 0; v < kNodes; ++v) {
        if (all[v] && !without[v]) {
          dominated_by[d][v] = true;
          bytes += g.block(v).size;
          ++count;
        }
      }
      ASSERT_EQ(dom.retained_bytes[d], bytes) << "block " << d;
      ASSERT_EQ(dom.retained_count[d], count) << "block " << d;
    }
    EXPECT_EQ(dom.order.size(), reachable);
    // idom(v) is a strict dominator of v that every other strict dominator
    // of v dominates; kSuperRootDominator when v has no strict dominator.
    for (NodeId v = 0; v < kNodes; ++v) {
      if (!all[v]) continue;
      std::vector<NodeId> strict;
      for (NodeId d = 0; d < kNodes; ++d)
        if (d != v && all[d] && dominated_by[d][v]) strict.push_back(d);
      if (strict.empty()) {
        ASSERT_EQ(dom.idom[v], DominatorTree::kSuperRootDominator) << "block " << v;
        continue;
      }
      const NodeId idom = dom.idom[v];
      ++nontrivial;
      ASSERT_NE(idom, DominatorTree::kSuperRootDominator) << "block " << v;
      ASSERT_TRUE(dominated_by[idom][v]);
      for (NodeId d : strict) ASSERT_TRUE(dominated_by[d][idom]) << d << " over " << idom;
    }
  }
  EXPECT_GT(nontrivial, 1000u);
}

TEST(Dominators, Diamond_JoinIsDominatedByFork) {
  // root -> a; a -> b, a -> c; b -> d; c -> d; d -> e
  GraphBuilder b;
  for (std::size_t i = 0; i < 5; ++i) b.add_block(addr(i), 10 * (i + 1), 0);
  const auto r = b.add_root(make_root(RootKind::kGlobal, "g"));
  b.add_root_edge_at(r, 0, addr(0));
  b.add_edge_at(addr(0), 0, addr(1));
  b.add_edge_at(addr(0), 8, addr(2));
  b.add_edge_at(addr(1), 0, addr(3));
  b.add_edge_at(addr(2), 0, addr(3));
  b.add_edge_at(addr(3), 0, addr(4));
  const DominatorTree dom = compute_dominators(std::move(b).build());
  EXPECT_EQ(dom.idom[0], DominatorTree::kSuperRootDominator);
  EXPECT_EQ(dom.idom[3], 0u);
  EXPECT_EQ(dom.idom[4], 3u);
  EXPECT_EQ(dom.retained_bytes[0], 150u);
  EXPECT_EQ(dom.retained_bytes[1], 20u);
  EXPECT_EQ(dom.retained_bytes[3], 90u);
}

}  // namespace
}  // namespace syncscope::retain
