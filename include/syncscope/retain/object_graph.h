// The object graph the retention queries run on: live heap blocks (nodes),
// named root ranges (thread stacks, registers, module data segments, TLS) and
// pointer edges between them, with the byte offset where each pointer sits.
//
// This type is deliberately independent of how the graph was obtained. The
// live mode (retention.h, take_snapshot) fills it from the exact-mode
// live-block table and a stopped world; tests fill it with synthetic blocks
// and edges through GraphBuilder. Every algorithm (graph_analysis.h) and
// report works on this type only.
//
// Implementation notes
//   Nodes are the blocks, sorted by address and non-overlapping, indexed
//   0..block_count()-1. Edges are stored in compressed sparse rows (CSR):
//
//     block_edge_begin_: [0, e0, e0+e1, ..., E]   (block_count()+1 entries)
//     block_edges_:      [targets of block 0 | targets of block 1 | ...]
//
//   and the same layout for root edges, one row per root. The algorithms
//   treat the roots as successors of one virtual super-root, so "reachable"
//   means reachable from any root.
//
// When not to use: this is a snapshot; it never tracks the heap after it was
// built. Addresses in it are only meaningful for that instant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace syncscope::retain {

// Index of a block in an ObjectGraph.
using NodeId = std::uint32_t;
inline constexpr NodeId kNoNode = 0xffffffffu;

// Byte offsets are stored in 31 bits; a pointer found further than this into
// a holder (a > 2 GiB block) is recorded with this saturated value.
inline constexpr std::uint32_t kOffsetSaturated = 0x7fffffffu;

// A live heap block: [address, address + size), allocated at `site`
// (a prof::SiteId in live mode; any label in synthetic graphs).
struct GraphBlock {
  std::uintptr_t address = 0;
  std::uint64_t size = 0;
  std::uint32_t site = 0;
};

enum class RootKind : std::uint8_t {
  kStack,     // a thread's stack, from its stack pointer to the stack top
  kRegister,  // a thread's saved general-purpose registers
  kGlobal,    // a writable data segment (.data/.bss/relro) of a module
  kTls,       // thread-local storage outside the thread's stack mapping
  kOther,     // synthetic roots in tests
};

const char* to_string(RootKind kind) noexcept;

// A root range. `name` names the range as a whole ("thread 'worker' (tid 7)
// stack", "global data of /usr/bin/app"); a word inside it can be named more
// precisely by the snapshot (frame function, symbol) from `begin + offset`.
struct Root {
  RootKind kind = RootKind::kOther;
  std::string name;
  std::uintptr_t begin = 0;  // address of the first scanned byte
  std::uint64_t size = 0;    // bytes scanned
  std::int32_t thread = -1;  // index into the snapshot's threads, -1 if none
};

// A pointer from a holder (block or root) to `target`, found at byte
// `offset` of the holder (saturated at kOffsetSaturated). `interior`: the
// pointer points past the target's first byte. Real references mostly point
// at the start (container data, strings, unique_ptr, shared_ptr control
// blocks); stale or partly overwritten words that a conservative scan also
// sees mostly point into the middle, so path queries prefer start pointers.
// Eight bytes per edge: heap graphs have millions.
struct Edge {
  NodeId target = kNoNode;
  std::uint32_t offset : 31 = 0;
  std::uint32_t interior : 1 = 0;
};
static_assert(sizeof(Edge) == 8);

class ObjectGraph {
 public:
  ObjectGraph() = default;

  // Takes ownership of already-built CSR arrays. PRECONDITION: `blocks`
  // sorted by address, non-overlapping; the begin arrays have one more entry
  // than their rows, start at 0, are non-decreasing and end at the edge count;
  // every edge target < blocks.size().
  ObjectGraph(std::vector<GraphBlock> blocks, std::vector<Root> roots,
              std::vector<std::uint64_t> block_edge_begin,
              std::vector<Edge> block_edges,
              std::vector<std::uint64_t> root_edge_begin,
              std::vector<Edge> root_edges);

  std::size_t block_count() const noexcept { return blocks_.size(); }
  std::size_t root_count() const noexcept { return roots_.size(); }
  std::size_t edge_count() const noexcept { return block_edges_.size(); }
  std::size_t root_edge_count() const noexcept { return root_edges_.size(); }

  GraphBlock block(NodeId n) const {
    GraphBlock b = blocks_[n];
    b.address ^= kHiddenBits;
    return b;
  }
  const Root& root(std::size_t r) const { return roots_[r]; }
  std::span<const Root> roots() const noexcept { return roots_; }

  std::span<const Edge> out_edges(NodeId n) const noexcept {
    return {block_edges_.data() + block_edge_begin_[n],
            block_edges_.data() + block_edge_begin_[n + 1]};
  }
  std::span<const Edge> root_edges(std::size_t r) const noexcept {
    return {root_edges_.data() + root_edge_begin_[r],
            root_edges_.data() + root_edge_begin_[r + 1]};
  }

  // The block whose [address, address + size) contains `addr` (interior
  // pointers included); a zero-size block contains only its own address.
  // O(log n).
  std::optional<NodeId> find_containing(std::uintptr_t addr) const noexcept;

  // Total bytes of all blocks.
  std::uint64_t total_bytes() const noexcept;

  // Approximate heap memory held by this graph (for the benchmark figures).
  std::size_t memory_bytes() const noexcept;

 private:
  // Block addresses are stored with kHiddenBits flipped: a snapshot kept
  // alive by the program must not look, to the next conservative scan, like
  // a holder of every block it lists. Flipping the (zero) top bits keeps the
  // order and makes every stored value a non-canonical address.
  static constexpr std::uintptr_t kHiddenBits = ~(~std::uintptr_t{0} >> 16);
  std::vector<GraphBlock> blocks_;                 // sorted by address, hidden
  std::vector<Root> roots_;
  std::vector<std::uint64_t> block_edge_begin_{0};  // [block_count()+1]
  std::vector<Edge> block_edges_;
  std::vector<std::uint64_t> root_edge_begin_{0};   // [root_count()+1]
  std::vector<Edge> root_edges_;
};

// The same encoding for other stored heap addresses (e.g. wait objects).
inline std::uintptr_t hide_address(std::uintptr_t a) { return a ^ ~(~std::uintptr_t{0} >> 16); }

// Builds an ObjectGraph from edges given in any order (synthetic graphs in
// tests, small tools). The live scanner writes CSR directly instead.
class GraphBuilder {
 public:
  // Blocks may be added in any order; build() numbers them by address.
  void add_block(std::uintptr_t address, std::uint64_t size, std::uint32_t site);
  // Returns the root index.
  std::size_t add_root(Root root);
  // Edges name holders/targets by address; an address that is inside no
  // block is ignored (as the conservative scan does).
  void add_edge_at(std::uintptr_t holder_address, std::uint64_t offset,
                   std::uintptr_t target_address);
  void add_root_edge_at(std::size_t root, std::uint64_t offset,
                        std::uintptr_t target_address);

  ObjectGraph build() &&;

 private:
  struct PendingEdge {
    std::uintptr_t holder;  // holder block address, or root index
    std::uint64_t offset;
    std::uintptr_t target;
  };
  std::vector<GraphBlock> blocks_;
  std::vector<Root> roots_;
  std::vector<PendingEdge> edges_;
  std::vector<PendingEdge> root_edges_;
};

}  // namespace syncscope::retain
