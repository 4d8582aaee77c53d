// summary, leaks and module warnings (see core_report.h).
#include "core_report.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "retain/snapshot_impl.h"

namespace syncscope::core_tool {
namespace {

using retain::internal::CoreSnapshot;

struct Group {
  std::uint32_t label = 0;
  std::uint64_t blocks = 0;
  std::uint64_t bytes = 0;
  std::uintptr_t sample = 0;  // the group's largest block
  std::uint64_t sample_size = 0;
};

struct Totals {
  std::uint64_t blocks = 0, bytes = 0;
  std::uint64_t reachable_blocks = 0, reachable_bytes = 0;
  std::uint64_t unreachable_blocks = 0, unreachable_bytes = 0;
};

// Blocks grouped by label (type, or size class "<N>-byte block"), largest
// total first; `unreachable_only` keeps the leaked ones only.
std::vector<Group> groups(const CoreSnapshot& s, bool unreachable_only, Totals& totals) {
  const auto& impl = syncscope::retain::internal::SnapshotAccess::impl(*s.snapshot);
  const auto& g = impl.graph;
  std::map<std::uint32_t, Group> by_label;
  for (retain::NodeId n = 0; n < g.block_count(); ++n) {
    const retain::GraphBlock b = g.block(n);
    const bool reachable = impl.paths.reachable(n);
    ++totals.blocks;
    totals.bytes += b.size;
    (reachable ? totals.reachable_blocks : totals.unreachable_blocks) += 1;
    (reachable ? totals.reachable_bytes : totals.unreachable_bytes) += b.size;
    if (unreachable_only && reachable) continue;
    Group& gr = by_label[b.site];
    gr.label = b.site;
    ++gr.blocks;
    gr.bytes += b.size;
    if (b.size >= gr.sample_size) {
      gr.sample = b.address;
      gr.sample_size = b.size;
    }
  }
  std::vector<Group> out;
  for (auto& [id, gr] : by_label) out.push_back(gr);
  std::sort(out.begin(), out.end(), [](const Group& a, const Group& b) {
    return a.bytes != b.bytes ? a.bytes > b.bytes : a.label < b.label;
  });
  return out;
}

std::string hex(std::uintptr_t a) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%" PRIxPTR, a);
  return b;
}

std::string line(const char* fmt, auto... args) {
  char b[512];
  std::snprintf(b, sizeof b, fmt, args...);
  return b;
}

unsigned long long ull(std::uint64_t v) { return static_cast<unsigned long long>(v); }


}  // namespace

std::string module_warnings(const CoreSnapshot& s) {
  std::string out;
  for (const auto& m : s.symbols->modules()) {
    if (!m.problem.empty()) out += m.warning() + "\n";
  }
  return out;
}

std::string summary_text(const CoreSnapshot& s, std::size_t top_groups) {
  Totals t;
  const std::vector<Group> gs = groups(s, false, t);
  const auto& impl = syncscope::retain::internal::SnapshotAccess::impl(*s.snapshot);
  std::string out = "core " + s.core->path() + " (" + s.core->program_name() + ", " +
                    std::to_string(s.core->threads().size()) + " threads, " +
                    std::to_string(s.symbols->modules().size()) + " modules)\n";
  out += line("heap: %llu arenas, %llu heaps, %llu bytes of arena heaps walked\n", ull(s.walk.arenas),
              ull(s.walk.heaps), ull(s.walk.heap_bytes));
  out += line("used:        %10llu blocks %14llu bytes (%llu mmapped chunks)\n", ull(t.blocks), ull(t.bytes),
              ull(s.walk.mmapped_chunks));
  out += line("free:        %10llu chunks %14llu bytes (%llu in fastbins, %llu in tcaches; plus %llu bytes of top chunks)\n",
              ull(s.walk.free_chunks), ull(s.walk.free_bytes), ull(s.walk.fastbin_chunks), ull(s.walk.tcache_chunks),
              ull(s.walk.top_bytes));
  out += line("reachable:   %10llu blocks %14llu bytes\n", ull(t.reachable_blocks), ull(t.reachable_bytes));
  out += line("unreachable: %10llu blocks %14llu bytes (leaked: no root reaches them)\n", ull(t.unreachable_blocks),
              ull(t.unreachable_bytes));
  if (s.sampled_blocks != 0)
    out += line("allocation sites: %llu blocks named by the heap profiler's samples in the core\n",
                ull(s.sampled_blocks));
  if (!s.sampled_note.empty()) out += "allocation sites: not used: " + s.sampled_note + "\n";
  out += "by allocation site, type or size class (largest first):\n";
  for (std::size_t i = 0; i < gs.size() && i < top_groups; ++i) {
    out += line("  %14llu bytes %10llu blocks  %s\n", ull(gs[i].bytes), ull(gs[i].blocks),
                impl.site(gs[i].label).name.c_str());
  }
  return out;
}

std::string summary_json(const CoreSnapshot& s, std::size_t top_groups) {
  Totals t;
  const std::vector<Group> gs = groups(s, false, t);
  const auto& impl = syncscope::retain::internal::SnapshotAccess::impl(*s.snapshot);
  nlohmann::json j;
  j["core"] = s.core->path();
  j["program"] = s.core->program_name();
  j["threads"] = s.core->threads().size();
  j["heap"] = {{"arenas", s.walk.arenas}, {"heaps", s.walk.heaps}, {"heap_bytes", s.walk.heap_bytes}};
  j["used"] = {{"blocks", t.blocks}, {"bytes", t.bytes}, {"mmapped_chunks", s.walk.mmapped_chunks}};
  j["free"] = {{"chunks", s.walk.free_chunks},
               {"bytes", s.walk.free_bytes},
               {"fastbin_chunks", s.walk.fastbin_chunks},
               {"tcache_chunks", s.walk.tcache_chunks},
               {"top_bytes", s.walk.top_bytes}};
  j["reachable"] = {{"blocks", t.reachable_blocks}, {"bytes", t.reachable_bytes}};
  j["unreachable"] = {{"blocks", t.unreachable_blocks}, {"bytes", t.unreachable_bytes}};
  nlohmann::json by = nlohmann::json::array();
  for (std::size_t i = 0; i < gs.size() && i < top_groups; ++i) {
    by.push_back({{"name", impl.site(gs[i].label).name}, {"blocks", gs[i].blocks}, {"bytes", gs[i].bytes}});
  }
  j["by_type"] = by;
  j["sampled_blocks"] = s.sampled_blocks;
  j["sampled_note"] = s.sampled_note;
  nlohmann::json mods = nlohmann::json::array();
  for (const auto& m : s.symbols->modules()) {
    mods.push_back({{"name", m.name}, {"file", m.file}, {"problem", m.problem}, {"symbols_used", m.symbols_used}});
  }
  j["modules"] = mods;
  j["cost"] = {{"walk_ns", s.walk_ns},
               {"scan_ns", s.scan_ns},
               {"analysis_ns", s.analysis_ns},
               {"scanner_memory_bytes", s.memory_bytes},
               {"anon_peak_bytes", s.anon_peak_bytes}};
  return j.dump(2) + "\n";
}

std::string leaks_text(const CoreSnapshot& s, std::size_t top_groups) {
  Totals t;
  const std::vector<Group> gs = groups(s, true, t);
  const auto& impl = syncscope::retain::internal::SnapshotAccess::impl(*s.snapshot);
  std::string out = line("%llu unreachable blocks, %llu bytes (no root reaches them):\n", ull(t.unreachable_blocks),
                         ull(t.unreachable_bytes));
  for (std::size_t i = 0; i < gs.size() && i < top_groups; ++i) {
    out += line("  %14llu bytes %10llu blocks  %s  e.g. %s\n", ull(gs[i].bytes), ull(gs[i].blocks),
                impl.site(gs[i].label).name.c_str(), hex(gs[i].sample).c_str());
  }
  return out;
}

std::string leaks_json(const CoreSnapshot& s, std::size_t top_groups) {
  Totals t;
  const std::vector<Group> gs = groups(s, true, t);
  const auto& impl = syncscope::retain::internal::SnapshotAccess::impl(*s.snapshot);
  nlohmann::json j;
  j["unreachable"] = {{"blocks", t.unreachable_blocks}, {"bytes", t.unreachable_bytes}};
  nlohmann::json by = nlohmann::json::array();
  for (std::size_t i = 0; i < gs.size() && i < top_groups; ++i) {
    by.push_back({{"name", impl.site(gs[i].label).name},
                  {"blocks", gs[i].blocks},
                  {"bytes", gs[i].bytes},
                  {"sample_address", hex(gs[i].sample)}});
  }
  j["groups"] = by;
  return j.dump(2) + "\n";
}

}  // namespace syncscope::core_tool
