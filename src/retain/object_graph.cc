// ObjectGraph storage and GraphBuilder (synthetic graphs).
#include "syncscope/retain/object_graph.h"

#include <algorithm>
#include <cassert>
#include <utility>

namespace syncscope::retain {

const char* to_string(RootKind kind) noexcept {
  switch (kind) {
    case RootKind::kStack: return "stack";
    case RootKind::kRegister: return "register";
    case RootKind::kGlobal: return "global";
    case RootKind::kTls: return "tls";
    case RootKind::kOther: return "root";
  }
  return "root";
}

ObjectGraph::ObjectGraph(std::vector<GraphBlock> blocks, std::vector<Root> roots,
                         std::vector<std::uint64_t> block_edge_begin,
                         std::vector<Edge> block_edges,
                         std::vector<std::uint64_t> root_edge_begin,
                         std::vector<Edge> root_edges)
    : blocks_(std::move(blocks)),
      roots_(std::move(roots)),
      block_edge_begin_(std::move(block_edge_begin)),
      block_edges_(std::move(block_edges)),
      root_edge_begin_(std::move(root_edge_begin)),
      root_edges_(std::move(root_edges)) {
  for (GraphBlock& b : blocks_) b.address ^= kHiddenBits;
  assert(block_edge_begin_.size() == blocks_.size() + 1);
  assert(root_edge_begin_.size() == roots_.size() + 1);
  assert(block_edge_begin_.back() == block_edges_.size());
  assert(root_edge_begin_.back() == root_edges_.size());
}

std::optional<NodeId> ObjectGraph::find_containing(std::uintptr_t plain) const noexcept {
  // First block whose address is > addr; the candidate is the one before it
  // (comparisons on the hidden encoding, which preserves order).
  const std::uintptr_t addr = plain ^ kHiddenBits;
  auto it = std::upper_bound(blocks_.begin(), blocks_.end(), addr,
                             [](std::uintptr_t a, const GraphBlock& b) { return a < b.address; });
  if (it == blocks_.begin()) return std::nullopt;
  --it;
  const std::uint64_t extent = it->size == 0 ? 1 : it->size;
  if (addr - it->address < extent) return static_cast<NodeId>(it - blocks_.begin());
  return std::nullopt;
}

std::uint64_t ObjectGraph::total_bytes() const noexcept {
  std::uint64_t total = 0;
  for (const GraphBlock& b : blocks_) total += b.size;
  return total;
}

std::size_t ObjectGraph::memory_bytes() const noexcept {
  return blocks_.capacity() * sizeof(GraphBlock) + roots_.capacity() * sizeof(Root) +
         block_edge_begin_.capacity() * sizeof(std::uint64_t) +
         block_edges_.capacity() * sizeof(Edge) +
         root_edge_begin_.capacity() * sizeof(std::uint64_t) +
         root_edges_.capacity() * sizeof(Edge);
}

void GraphBuilder::add_block(std::uintptr_t address, std::uint64_t size, std::uint32_t site) {
  blocks_.push_back({address, size, site});
}

std::size_t GraphBuilder::add_root(Root root) {
  roots_.push_back(std::move(root));
  return roots_.size() - 1;
}

void GraphBuilder::add_edge_at(std::uintptr_t holder_address, std::uint64_t offset,
                               std::uintptr_t target_address) {
  edges_.push_back({holder_address, offset, target_address});
}

void GraphBuilder::add_root_edge_at(std::size_t root, std::uint64_t offset,
                                    std::uintptr_t target_address) {
  root_edges_.push_back({root, offset, target_address});
}

namespace {

std::uint32_t saturate(std::uint64_t offset) {
  return offset >= kOffsetSaturated ? kOffsetSaturated : static_cast<std::uint32_t>(offset);
}

// Turns (row, offset, target) triples into CSR rows of `rows` rows; edges
// keep their insertion order within a row.
void to_csr(std::vector<std::pair<std::size_t, Edge>>& triples, std::size_t rows,
            std::vector<std::uint64_t>& begin, std::vector<Edge>& edges) {
  std::stable_sort(triples.begin(), triples.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  begin.assign(rows + 1, 0);
  for (const auto& t : triples) ++begin[t.first + 1];
  for (std::size_t i = 0; i < rows; ++i) begin[i + 1] += begin[i];
  edges.clear();
  edges.reserve(triples.size());
  for (const auto& t : triples) edges.push_back(t.second);
}

}  // namespace

ObjectGraph GraphBuilder::build() && {
  std::sort(blocks_.begin(), blocks_.end(),
            [](const GraphBlock& a, const GraphBlock& b) { return a.address < b.address; });
  // A graph with no edges yet answers find_containing for the address mapping.
  ObjectGraph index(blocks_, {}, std::vector<std::uint64_t>(blocks_.size() + 1, 0), {},
                    {0}, {});
  std::vector<std::pair<std::size_t, Edge>> block_triples;
  for (const PendingEdge& e : edges_) {
    auto from = index.find_containing(e.holder);
    auto to = index.find_containing(e.target);
    if (!from || !to) continue;
    const bool interior = e.target != index.block(*to).address;
    block_triples.push_back({*from, Edge{*to, saturate(e.offset), interior}});
  }
  std::vector<std::pair<std::size_t, Edge>> root_triples;
  for (const PendingEdge& e : root_edges_) {
    auto to = index.find_containing(e.target);
    if (!to || e.holder >= roots_.size()) continue;
    const bool interior = e.target != index.block(*to).address;
    root_triples.push_back({e.holder, Edge{*to, saturate(e.offset), interior}});
  }
  std::vector<std::uint64_t> block_begin, root_begin;
  std::vector<Edge> block_edges, root_edges;
  to_csr(block_triples, blocks_.size(), block_begin, block_edges);
  to_csr(root_triples, roots_.size(), root_begin, root_edges);
  return ObjectGraph(std::move(blocks_), std::move(roots_), std::move(block_begin),
                     std::move(block_edges), std::move(root_begin), std::move(root_edges));
}

}  // namespace syncscope::retain
