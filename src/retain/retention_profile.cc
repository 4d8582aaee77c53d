// The retention profile: a pprof profile.proto whose sample stacks are
// dominator chains (root -> holder -> ... -> block) named by allocation site.
//
// Each reachable block contributes (1, size) to the sample of its chain, so
// in pprof a frame's *cumulative* value is exactly what that holder (and the
// holders of the same site below it) retains, and a flame graph shows who
// holds memory. Consecutive blocks of one site collapse into one frame (a
// linked list is one frame, not 10^5), and chains are capped at
// kMaxChainFrames frames (deeper blocks are charged to the capped chain).
#include <cstdio>
#include <string>
#include <unordered_map>
#include <vector>

#include "retain/snapshot_impl.h"
#include "syncscope/prof/atomic_file.h"
#include "syncscope/prof/profile_builder.h"

namespace syncscope::retain {
namespace {

// Root frames aggregate by thread name, not by thread id: a thousand leaked
// workers of one kind are one frame.
// A root's name without its thread id, so that the stacks of many threads
// running the same code are one frame of the profile.
std::string root_frame_name(const SnapshotImpl& s, std::size_t root, std::uint64_t offset) {
  RootDetail d = s.name_root(root, offset);
  const bool detailed = d.thread_id != 0 || !d.module.empty() || !d.thread_name.empty();
  d.thread_id = 0;
  return detailed ? render_root(s.graph.root(root).kind, d) : s.graph.root(root).name;
}

constexpr std::size_t kMaxChainFrames = 48;
constexpr std::uint32_t kNoChain = 0xffffffffu;

struct Chain {
  std::uint32_t parent = kNoChain;
  std::uint32_t label = 0;  // site id, or index into root_names
  bool is_root = false;
  std::uint32_t depth = 1;
  std::int64_t objects = 0, bytes = 0;
};

class ChainTable {
 public:
  std::uint32_t intern(std::uint32_t parent, std::uint32_t label, bool is_root) {
    const std::uint64_t key = (static_cast<std::uint64_t>(parent) << 33) |
                              (static_cast<std::uint64_t>(label) << 1) | (is_root ? 1 : 0);
    auto [it, inserted] = index_.emplace(key, static_cast<std::uint32_t>(chains.size()));
    if (inserted) {
      const std::uint32_t depth = parent == kNoChain ? 1 : chains[parent].depth + 1;
      chains.push_back(Chain{parent, label, is_root, depth});
    }
    return it->second;
  }
  std::vector<Chain> chains;

 private:
  std::unordered_map<std::uint64_t, std::uint32_t> index_;
};

}  // namespace

std::string RetentionSnapshot::retention_profile() const {
  if (!impl_->dominators) return {};
  const Impl& s = *impl_;
  const DominatorTree& dom = *s.dominators;
  ChainTable table;
  std::vector<std::string> root_names;
  std::unordered_map<std::string, std::uint32_t> root_index;
  std::vector<std::uint32_t> chain_of(s.graph.block_count(), kNoChain);

  for (NodeId v : dom.order) {  // every block comes after its idom
    std::uint32_t parent;
    if (dom.idom[v] == DominatorTree::kSuperRootDominator) {
      const auto steps = path_steps(s.paths, v);
      std::string name =
          "root: " + root_frame_name(s, static_cast<std::size_t>(steps.front().root), steps.front().offset);
      auto [it, inserted] = root_index.emplace(name, static_cast<std::uint32_t>(root_names.size()));
      if (inserted) root_names.push_back(std::move(name));
      parent = table.intern(kNoChain, it->second, true);
    } else {
      parent = chain_of[dom.idom[v]];
    }
    const std::uint32_t site = s.graph.block(v).site;
    const Chain& p = table.chains[parent];
    const bool collapse = (!p.is_root && p.label == site) || p.depth >= kMaxChainFrames;
    const std::uint32_t c = collapse ? parent : table.intern(parent, site, false);
    chain_of[v] = c;
    table.chains[c].objects += 1;
    table.chains[c].bytes += static_cast<std::int64_t>(s.graph.block(v).size);
  }

  prof::ProfileBuilder builder({{"retained_objects", "count"}, {"retained_space", "bytes"}},
                               {"space", "bytes"}, 1, "retained_space");
  builder.add_comment("syncscope retention profile: stacks are dominator chains root -> holder -> block");
  std::vector<prof::NamedFrame> frames;
  for (const Chain& c : table.chains) {
    if (c.objects == 0) continue;
    frames.clear();
    for (const Chain* x = &c;; x = &table.chains[x->parent]) {
      prof::NamedFrame f;
      f.function = x->is_root ? root_names[x->label] : s.site(x->label).name;
      frames.push_back(std::move(f));
      if (x->parent == kNoChain) break;
    }
    const std::int64_t values[] = {c.objects, c.bytes};
    builder.add_named_sample(frames, values);
  }
  return builder.serialize_gzipped();
}

absl::Status RetentionSnapshot::write_retention_profile(const std::string& path) const {
  if (!impl_->dominators) {
    return absl::FailedPreconditionError("retention profile needs dominators (Options::compute_dominators)");
  }
  return prof::write_file_atomically(path, retention_profile());
}

}  // namespace syncscope::retain
