// Leaked tasks (Go 1.26's goroutineleak, without a GC): a blocked task can
// only be woken by someone who can reach its wait object. Mark from every
// root except the stacks/registers/TLS of blocked tasks; a blocked task whose
// wait object gets marked may run again, so its roots join the marking; repeat
// to a fixpoint. The tasks whose wait objects stay unmarked are leaked.
//
// The task registry's own records store each wait object's address as an
// integer, which a conservative scan reads as a pointer; edges out of those
// records (blocks allocated in syncscope::task::internal::create_task) are
// not followed here, since bookkeeping never wakes anyone.
#include <algorithm>
#include <string>
#include <unordered_map>
#include <vector>

#include "retain/snapshot_impl.h"

namespace syncscope::retain {
namespace {

constexpr std::string_view kTaskRecordSite = "syncscope::task::internal::create_task";

std::vector<bool> mark(const ObjectGraph& g, const std::vector<bool>& use_root,
                       const std::vector<bool>& opaque) {
  std::vector<bool> marked(g.block_count(), false);
  std::vector<NodeId> stack;
  auto push = [&](NodeId t) {
    if (!marked[t]) {
      marked[t] = true;
      stack.push_back(t);
    }
  };
  for (std::size_t r = 0; r < g.root_count(); ++r) {
    if (!use_root[r]) continue;
    for (const Edge& e : g.root_edges(r)) push(e.target);
  }
  while (!stack.empty()) {
    const NodeId v = stack.back();
    stack.pop_back();
    if (opaque[v]) continue;
    for (const Edge& e : g.out_edges(v)) push(e.target);
  }
  return marked;
}

}  // namespace

std::vector<LeakedTask> RetentionSnapshot::leaked_tasks() const {
  const Impl& s = *impl_;
  const ObjectGraph& g = s.graph;
  // Blocks whose outgoing edges are bookkeeping, not references.
  std::vector<bool> opaque(g.block_count(), false);
  std::unordered_map<std::uint32_t, bool> opaque_site;
  for (NodeId n = 0; n < g.block_count(); ++n) {
    const std::uint32_t site = g.block(n).site;
    auto it = opaque_site.find(site);
    if (it == opaque_site.end()) {
      const SiteDescription& d = s.site(site);
      bool hit = d.name.find(kTaskRecordSite) != std::string::npos;
      for (const std::string& f : d.frames) hit = hit || f.find(kTaskRecordSite) != std::string::npos;
      it = opaque_site.emplace(site, hit).first;
    }
    opaque[n] = it->second;
  }

  struct Candidate {
    const TaskRecord* task;
    NodeId wait_block;
  };
  std::vector<Candidate> candidates;
  std::vector<bool> use_root(g.root_count(), true);
  for (const TaskRecord& t : s.tasks) {
    if (!t.blocked || t.wait_object_hidden == 0) continue;
    const auto block = g.find_containing(hide_address(t.wait_object_hidden));
    if (!block) continue;  // waits on a global or stack object: cannot judge
    candidates.push_back({&t, *block});
    for (std::size_t r : t.own_roots) use_root[r] = false;
  }
  for (bool changed = true; changed && !candidates.empty();) {
    changed = false;
    const std::vector<bool> marked = mark(g, use_root, opaque);
    for (std::size_t i = 0; i < candidates.size();) {
      if (marked[candidates[i].wait_block]) {
        for (std::size_t r : candidates[i].task->own_roots) use_root[r] = true;
        candidates[i] = candidates.back();
        candidates.pop_back();
        changed = true;
      } else {
        ++i;
      }
    }
  }
  std::vector<LeakedTask> out;
  for (const Candidate& c : candidates) {
    LeakedTask t;
    t.task_id = c.task->id;
    t.name = c.task->name;
    t.spawn_site = c.task->spawn_site;
    t.blocking_reason = c.task->blocking_reason;
    t.wait_object_site = s.site(g.block(c.wait_block).site).name;
    t.age_s = c.task->age_s;
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end(),
            [](const LeakedTask& a, const LeakedTask& b) { return a.task_id < b.task_id; });
  return out;
}

}  // namespace syncscope::retain
