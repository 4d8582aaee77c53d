// syncscope-core: retention analysis of an ELF core file of an x86-64 Linux
// process (issue 17): the live snapshot's heap walk, scan, naming and
// reports, after the process is gone. See README "From a core file".
//
// Exit status: 0 done; 2 bad input (unreadable, truncated or foreign core,
// missing executable, malformed address), with one line on stderr; 1 when
// the analysis itself failed (an unknown heap layout).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core_report.h"
#include "retain/core_snapshot.h"
#include "retain/snapshot_impl.h"
#include "syncscope/retain/retention.h"

namespace {

using syncscope::retain::RetentionPath;
using syncscope::retain::internal::CoreSnapshot;
using syncscope::retain::internal::CoreSnapshotOptions;
namespace tool = syncscope::core_tool;

struct Args {
  std::string core;
  std::string exe;
  std::string sysroot;
  bool json = false;
  std::size_t count = 10;
  // why
  std::string address;
  std::string type;
  std::string symbol;
  // retained
  std::string output;
  // diff
  std::vector<std::string> diff_cores;
};

int fail(const std::string& message, int code) {
  std::fprintf(stderr, "syncscope-core: %s\n", message.c_str());
  return code;
}

int status_exit(const absl::Status& s) {
  // Internal = the analysis did not understand the heap; the rest is input.
  return fail(std::string(s.message()), s.code() == absl::StatusCode::kInternal ? 1 : 2);
}

absl::StatusOr<std::unique_ptr<CoreSnapshot>> load(const std::string& path, const Args& a,
                                                    bool dominators = true) {
  CoreSnapshotOptions o;
  o.compute_dominators = dominators;
  o.exe = a.exe;
  o.sysroot = a.sysroot;
  auto s = syncscope::retain::internal::snapshot_core(path, o);
  if (s.ok()) std::fputs(tool::module_warnings(**s).c_str(), stderr);
  return s;
}

void print(const std::string& text) { std::fwrite(text.data(), 1, text.size(), stdout); }

// The blocks a global named `symbol` points to directly (every word of it).
std::vector<RetentionPath> paths_from_symbol(const CoreSnapshot& s, const std::string& symbol, std::size_t max) {
  const auto& impl = syncscope::retain::internal::SnapshotAccess::impl(*s.snapshot);
  const auto& g = impl.graph;
  std::vector<RetentionPath> out;
  for (std::size_t r = 0; r < g.root_count() && out.size() < max; ++r) {
    if (g.root(r).kind != syncscope::retain::RootKind::kGlobal) continue;
    for (const syncscope::retain::Edge& e : g.root_edges(r)) {
      const std::string name = impl.name_root(r, e.offset).symbol;
      if (name != symbol && name.rfind(symbol + "+", 0) != 0) continue;
      // The path from this global (the shortest one may start elsewhere).
      RetentionPath p = impl.path_for(e.target, 0);
      syncscope::retain::PathHop root;
      root.is_root = true;
      root.root_kind = syncscope::retain::RootKind::kGlobal;
      root.root = impl.name_root(r, e.offset);
      root.name = syncscope::retain::render_root(root.root_kind, root.root);
      root.size = g.root(r).size;
      root.offset = e.offset;
      if (!p.hops.empty()) {
        syncscope::retain::PathHop target = p.hops.back();
        p.hops = {root, target};
        p.reachable = true;
      }
      out.push_back(std::move(p));
      if (out.size() == max) break;
    }
  }
  return out;
}

int run_why(const CoreSnapshot& s, const Args& a) {
  const auto& snap = *s.snapshot;
  std::vector<RetentionPath> paths;
  if (!a.address.empty()) {
    auto addr = syncscope::retain::parse_address(a.address);
    if (!addr.ok()) return fail("why: " + std::string(addr.status().message()), 2);
    paths.push_back(snap.path_to(*addr));
  } else if (!a.type.empty()) {
    paths = snap.paths_to_type(a.type, a.count);
  } else if (!a.symbol.empty()) {
    paths = paths_from_symbol(s, a.symbol, a.count);
  } else {
    return fail("why: give ADDR, --type T or --symbol S", 2);
  }
  if (paths.empty() && !a.json) {
    print("no block matches\n");
    return 0;
  }
  print(a.json ? syncscope::retain::to_json(paths) + "\n" : syncscope::retain::to_text(paths));
  return 0;
}

int run_diff(const Args& a) {
  std::vector<std::string> cores = a.diff_cores;
  if (cores.size() == 1 && !a.core.empty()) cores.insert(cores.begin(), a.core);
  if (cores.size() != 2) return fail("diff: give CORE_A CORE_B", 2);
  auto before = load(cores[0], a);
  if (!before.ok()) return status_exit(before.status());
  auto after = load(cores[1], a);
  if (!after.ok()) return status_exit(after.status());
  auto g = syncscope::retain::growth(*(*before)->snapshot, *(*after)->snapshot, a.count);
  // growth() explains the largest block of each site; of equal blocks (a
  // list of one type) the one closest to a root reads better.
  const auto& impl = syncscope::retain::internal::SnapshotAccess::impl(*(*after)->snapshot);
  for (auto& row : g) {
    syncscope::retain::NodeId best = syncscope::retain::kNoNode;
    for (syncscope::retain::NodeId n = 0; n < impl.graph.block_count(); ++n) {
      if (impl.graph.block(n).site != row.site || !impl.paths.reachable(n)) continue;
      if (best == syncscope::retain::kNoNode || impl.paths.depth[n] < impl.paths.depth[best]) best = n;
    }
    if (best != syncscope::retain::kNoNode) row.example_path = impl.path_for(best, 0);
  }
  if (a.json) {
    print(syncscope::retain::to_json(g) + "\n");
  } else {
    print(g.empty() ? "nothing grew\n" : syncscope::retain::to_text(g));
  }
  return 0;
}

// Needs only the core and the files: works when the heap walk would not.
int run_modules(const Args& a) {
  auto core = syncscope::retain::internal::CoreFile::open(a.core);
  if (!core.ok()) return status_exit(core.status());
  auto symbols = syncscope::retain::internal::CoreSymbols::open(**core, a.exe, a.sysroot);
  if (!symbols.ok()) return status_exit(symbols.status());
  nlohmann::json j = nlohmann::json::array();
  std::string text;
  for (const auto& m : (*symbols)->modules()) {
    char range[64];
    std::snprintf(range, sizeof range, "%#lx-%#lx", static_cast<unsigned long>(m.start),
                  static_cast<unsigned long>(m.end));
    j.push_back({{"name", m.name}, {"start", m.start}, {"end", m.end}, {"file", m.file}, {"problem", m.problem}, {"symbols_used", m.symbols_used},
                 {"main_executable", m.main_executable}});
    text += std::string(range) + "  " + m.name + (m.main_executable ? "  (main executable)" : "") +
            (m.problem.empty() ? "" : "\n    " + m.warning()) + "\n";
  }
  print(a.json ? j.dump(2) + "\n" : text);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"syncscope-core: retention, leaks and growth from an ELF core file (x86-64 Linux, glibc heap)"};
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("core", a.core, "the core file (e.g. from gcore PID)");
  app.add_option("--exe", a.exe, "the program's executable (default: the path the core names)");
  app.add_option("--sysroot", a.sysroot, "prefix for every module path but --exe's");
  app.add_flag("--json", a.json, "JSON output");
  app.add_option("-n,--count", a.count, "rows (or paths) to print")->capture_default_str();
  app.add_subcommand("summary", "blocks and bytes used, free, reachable, unreachable; by type or size class");
  app.add_subcommand("top", "top retainers by retained size (dominator tree)");
  CLI::App* why = app.add_subcommand("why", "shortest paths from roots, every hop named");
  why->add_option("address", a.address, "an address inside a block (0x...)");
  why->add_option("--type", a.type, "blocks of this C++ type (from their vtable)");
  why->add_option("--symbol", a.symbol, "blocks a global of this name points to");
  CLI::App* retained = app.add_subcommand("retained", "the retention profile (pprof, gzipped)");
  retained->add_option("-o,--output", a.output, "FILE.pb.gz")->required();
  app.add_subcommand("modules", "the loaded modules, their files and whether their symbols are used");
  app.add_subcommand("leaks", "unreachable blocks grouped by type or size, with a sample address");
  CLI::App* diff = app.add_subcommand("diff", "growth by type between two cores of the same program");
  diff->add_option("cores", a.diff_cores, "CORE_A CORE_B (or CORE diff CORE_B)")->expected(1, 2);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return fail(e.what(), 2);
  }
  if (diff->parsed()) return run_diff(a);
  if (a.core.empty()) return fail("give the core file first: syncscope-core CORE COMMAND", 2);
  if (app.got_subcommand("modules")) return run_modules(a);
  // summary and leaks need reachability only: no dominator tree.
  const bool dominators = !app.got_subcommand("summary") && !app.got_subcommand("leaks");
  auto loaded = load(a.core, a, dominators);
  if (!loaded.ok()) return status_exit(loaded.status());
  const CoreSnapshot& s = **loaded;
  if (why->parsed()) return run_why(s, a);
  if (retained->parsed()) {
    if (const absl::Status written = s.snapshot->write_retention_profile(a.output); !written.ok()) {
      return fail("retained: " + std::string(written.message()), 2);
    }
    print(a.json ? nlohmann::json{{"written", a.output}}.dump() + "\n" : "wrote " + a.output + "\n");
    return 0;
  }
  if (app.got_subcommand("summary")) print(a.json ? tool::summary_json(s, a.count) : tool::summary_text(s, a.count));
  if (app.got_subcommand("leaks")) print(a.json ? tool::leaks_json(s, a.count) : tool::leaks_text(s, a.count));
  if (app.got_subcommand("top")) {
    const auto top = s.snapshot->top_retainers(a.count);
    print(a.json ? syncscope::retain::to_json(top) + "\n" : syncscope::retain::to_text(top));
  }
  return 0;
}
