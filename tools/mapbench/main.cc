// syncscope-mapbench: Go's sync.Map benchmark workloads over syncscope's four
// maps, the C++ peer maps and Go's sync.Map / RWMutex map, in one run; writes
// JSON, CSV, markdown and SVG (DESIGN §6; docs/mapbench.md).
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <algorithm>
#include <filesystem>
#include <tuple>
#include <string>
#include <vector>

#include "go_harness.h"
#include "machine.h"
#include "options.h"
#include "report.h"
#include "text.h"
#include "runner.h"
#include "system_names.h"

namespace syncscope::mapbench {
namespace {

#ifndef SYNCSCOPE_MAPBENCH_GO_DIR
#define SYNCSCOPE_MAPBENCH_GO_DIR ""
#endif


const char* const kOpNames[] = {"load", "store", "load_or_store", "load_and_delete", "delete",
                                "swap", "compare_and_swap", "compare_and_delete", "range",
                                "range while writing"};

std::string missing_ops_note(unsigned ops) {
  std::vector<std::string> missing;
  for (unsigned bit = 0; bit < std::size(kOpNames); ++bit) {
    if ((ops & (1u << bit)) == 0) missing.push_back(kOpNames[bit]);
  }
  return text::cat("no concurrent-safe ", text::join(missing, ", "),
                      ": n/a wherever a workload needs it");
}

std::vector<CppSystem> all_cpp_systems() {
  std::vector<CppSystem> out = syncscope_systems();
  for (auto& s : peer_systems()) out.push_back(std::move(s));
  return out;
}

std::string executable_dir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.parent_path().string();
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string human_duration(std::chrono::nanoseconds d) {
  const double ms = static_cast<double>(d.count()) / 1e6;
  return ms >= 1000 ? text::format("%gs", ms / 1000) : text::format("%gms", ms);
}

Record measure(const CppSystem& sys, std::size_t workload_index, const std::string& workload,
               int threads, std::chrono::nanoseconds duration) {
  Record r;
  r.workload = workload;
  r.system = sys.name;
  r.threads = threads;
  r.source = "cpp";
  const RunFn fn = sys.runners[workload_index];
  if (fn == nullptr) {
    r.na = true;
    r.note = missing_ops_note(sys.ops);
    return r;
  }
  const RunTotals t = fn(threads, duration);
  r.ops = t.ops;
  r.ns_per_op = t.ops == 0 ? NAN : static_cast<double>(t.wall_ns) / static_cast<double>(t.ops);
  r.allocs_per_op = t.ops == 0 ? NAN : static_cast<double>(t.allocations) / static_cast<double>(t.ops);
  r.errors = t.sum.errors;
  if (t.sum.reads + t.sum.writes > 0) {
    if (t.sum.timed_reads > 0) {
      r.read_ns = static_cast<double>(t.sum.timed_read_ns) / static_cast<double>(t.sum.timed_reads);
    }
    r.write_ops_per_s = static_cast<double>(t.sum.writes) * 1e9 / static_cast<double>(t.wall_ns);
  }
  return r;
}

std::vector<Record> run_cpp(const Options& o, const std::vector<CppSystem>& systems) {
  const auto infos = workload_infos();
  std::vector<Record> out;
  std::size_t total = 0, done = 0;
  for (const auto& s : systems) {
    if (std::find(o.systems.begin(), o.systems.end(), s.name) != o.systems.end()) {
      total += o.workloads.size() * o.threads.size();
    }
  }
  for (std::size_t w = 0; w < infos.size(); ++w) {
    if (std::find(o.workloads.begin(), o.workloads.end(), infos[w].name) == o.workloads.end()) continue;
    for (const auto& s : systems) {
      if (std::find(o.systems.begin(), o.systems.end(), s.name) == o.systems.end()) continue;
      for (int t : o.threads) {
        Record r = measure(s, w, infos[w].name, t, o.duration);
        ++done;
        if (r.na) {
          std::fprintf(stderr, "mapbench: [%zu/%zu] %s %s threads=%d: n/a\n", done, total,
                       r.workload.c_str(), r.system.c_str(), t);
        } else {
          std::fprintf(stderr, "mapbench: [%zu/%zu] %s %s threads=%d: %.3g ns/op, %.3g allocs/op%s\n",
                       done, total, r.workload.c_str(), r.system.c_str(), t, r.ns_per_op,
                       r.allocs_per_op, r.errors ? text::cat(", ", r.errors, " ERRORS").c_str() : "");
        }
        out.push_back(std::move(r));
      }
    }
  }
  return out;
}

std::vector<Record> run_go(const Options& o) {
  GoRunConfig c;
  for (const char* s : system_names::kGo) {
    if (std::find(o.systems.begin(), o.systems.end(), s) != o.systems.end()) c.systems.push_back(s);
  }
  if (c.systems.empty() || !o.go) return {};
  c.workloads = o.workloads;
  c.threads = o.threads;
  c.benchtime_s = static_cast<double>(o.duration.count()) / 1e9;
  c.go_dir = o.go_dir;
  c.go_bin = o.go_bin;
  // A bundle ships the prebuilt harness beside the driver, used when there
  // is no Go toolchain; its launcher names it in SYNCSCOPE_MAPBENCH_GO_BIN
  // (the bundled loader makes /proc/self/exe point at itself).
  const char* bundled = std::getenv("SYNCSCOPE_MAPBENCH_GO_BIN");
  c.bundled_bin = bundled != nullptr ? bundled : executable_dir() + "/mapbench-go.test";
  std::fprintf(stderr, "mapbench: running the Go harness for %s\n", text::join(c.systems, ", ").c_str());
  GoRunOutcome g = run_go_harness(c);
  if (!g.message.empty()) std::fprintf(stderr, "mapbench: warning: %s\n", g.message.c_str());
  return std::move(g.records);
}

// Canonical order: workload, then system (catalog order), then threads.
void sort_records(std::vector<Record>& records, const Catalog& catalog) {
  auto rank = [](const std::vector<std::string>& names, const std::string& n) {
    return std::find(names.begin(), names.end(), n) - names.begin();
  };
  std::stable_sort(records.begin(), records.end(), [&](const Record& a, const Record& b) {
    return std::make_tuple(rank(catalog.workloads, a.workload), rank(catalog.systems, a.system), a.threads) <
           std::make_tuple(rank(catalog.workloads, b.workload), rank(catalog.systems, b.system), b.threads);
  });
}

int write_outputs(const Options& o, const std::vector<Record>& records, const RunContext& ctx) {
  std::string error;
  bool ok = true;
  auto put = [&](const std::string& path, const std::string& text) {
    if (!path.empty() && !write_file(path, text, error)) {
      std::fprintf(stderr, "syncscope-mapbench: %s\n", error.c_str());
      ok = false;
    }
  };
  put(o.json, render_json(records));
  put(o.csv, render_csv(records));
  const std::string md = render_markdown(records, ctx);
  put(o.markdown, md);
  put(o.svg, render_svg(records, ctx));
  if (o.json.empty() && o.csv.empty() && o.markdown.empty() && o.svg.empty()) {
    std::fputs(md.c_str(), stdout);
  }
  return ok ? 0 : 1;
}

int run(int argc, char** argv) {
  const Machine machine = describe_machine();
  const std::vector<CppSystem> cpp = all_cpp_systems();
  Catalog catalog;
  for (const auto& w : workload_infos()) catalog.workloads.push_back(w.name);
  for (const char* s : system_names::kAll) {
    catalog.systems.push_back(s);
    const bool is_go = system_names::is_go(s);
    bool built = is_go;
    for (const auto& c : cpp) built = built || std::string_view(c.name) == s;
    if (built) catalog.built_systems.push_back(s);
  }
  catalog.cpus = machine.cpus;
  const char* env_dir = std::getenv("SYNCSCOPE_MAPBENCH_GO_DIR");
  catalog.default_go_dir = env_dir != nullptr ? env_dir : SYNCSCOPE_MAPBENCH_GO_DIR;
  ParseOutcome parsed = parse_options(argc, argv, catalog);
  if (!parsed.options) {
    std::fputs((parsed.message + "\n").c_str(), parsed.exit_code == 0 ? stdout : stderr);
    return parsed.exit_code;
  }
  const Options& o = *parsed.options;
  if (o.list) {
    std::printf("workloads: %s\nsystems: %s\n", text::join(catalog.workloads, ",").c_str(),
                text::join(catalog.built_systems, ",").c_str());
    return 0;
  }
  std::fprintf(stderr, "mapbench: %s; %zu workloads x %zu systems x threads %s, %s per run\n",
               machine.one_line().c_str(), o.workloads.size(), o.systems.size(),
               text::join(o.threads, ",").c_str(), human_duration(o.duration).c_str());
  std::vector<Record> records = run_cpp(o, cpp);
  for (auto& r : run_go(o)) records.push_back(std::move(r));
  sort_records(records, catalog);
  // Columns: the requested systems that produced records (Go ones drop out
  // when the harness was skipped).
  std::vector<std::string> shown;
  for (const auto& s : o.systems) {
    for (const auto& r : records) {
      if (r.system == s) {
        shown.push_back(s);
        break;
      }
    }
  }
  RunContext ctx{machine, o.command_line, human_duration(o.duration), utc_now(), o.workloads, shown, o.threads};
  int rc = write_outputs(o, records, ctx);
  std::uint64_t errors = 0;
  for (const auto& r : records) errors += r.errors;
  if (errors != 0) {
    std::fprintf(stderr, "syncscope-mapbench: %llu correctness errors (Go's b.Fatalf conditions); see the records with errors > 0\n",
                 static_cast<unsigned long long>(errors));
    rc = 3;
  }
  return rc;
}

}  // namespace
}  // namespace syncscope::mapbench

int main(int argc, char** argv) { return syncscope::mapbench::run(argc, argv); }
