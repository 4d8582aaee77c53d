#include "compare.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "output_dir.h"
#include "syncscope/prof/atomic_file.h"

extern char** environ;

namespace syncscope::lab {
namespace fs = std::filesystem;

namespace {

constexpr const char* kWorkload = "ReadMostlyCache";

std::string fmt_rate(double r) {
  if (r >= 1e6) return absl::StrFormat("%.2f M", r / 1e6);
  if (r >= 1e3) return absl::StrFormat("%.1f k", r / 1e3);
  return absl::StrFormat("%.0f", r);
}

// Runs argv, waits, returns the exit status (-1 if it could not start).
int run_process(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

std::string find_mapbench() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const fs::path p = self.parent_path() / "syncscope-mapbench";
  return fs::exists(p, ec) ? p.string() : "";
}

std::string compare_table(const std::string& mapbench_json, std::string* error) {
  nlohmann::json j = nlohmann::json::parse(mapbench_json, nullptr, false);
  if (j.is_discarded() || !j.is_array()) {
    *error = "mapbench JSON is not a list of records";
    return "";
  }
  // Per system: the record with the most threads (the contended figure).
  std::map<std::string, nlohmann::json> best;
  std::vector<std::string> order;
  for (const auto& r : j) {
    if (!r.is_object() || r.value("workload", "") != kWorkload) continue;
    const std::string sys = r.value("system", "");
    if (!best.count(sys)) order.push_back(sys);
    if (!best.count(sys) || r.value("threads", 0) > best[sys].value("threads", 0)) best[sys] = r;
  }
  if (best.empty()) {
    *error = std::string("mapbench JSON has no ") + kWorkload + " records";
    return "";
  }
  std::string out = absl::StrFormat("%-30s %8s %18s %18s %12s\n", "design", "threads", "read latency (ns)",
                                    "write (ops/s)", "allocs/op");
  for (const auto& sys : order) {
    const auto& r = best[sys];
    if (r.value("na", false)) {
      out += absl::StrFormat("%-30s %8d %18s %18s %12s  %s\n", sys, r.value("threads", 0), "n/a", "n/a", "n/a",
                             r.value("note", ""));
      continue;
    }
    const std::string read = r.contains("read_ns") ? absl::StrFormat("%.1f", r["read_ns"].get<double>()) : "?";
    const std::string write =
        r.contains("write_ops_per_s") ? fmt_rate(r["write_ops_per_s"].get<double>()) : "?";
    const double allocs = r["allocs_per_op"].is_number() ? r["allocs_per_op"].get<double>() : 0.0;
    out += absl::StrFormat("%-30s %8d %18s %18s %12.3f\n", sys, r.value("threads", 0), read, write, allocs);
  }
  return out;
}

int run_compare(const std::string& out_root, int index, int total) {
  const std::string bench = find_mapbench();
  std::fprintf(stderr, "[lab %d/%d] compare: running syncscope-mapbench --quick on %s\n", index, total, kWorkload);
  if (bench.empty()) {
    std::fprintf(stderr,
                 "lab compare: syncscope-mapbench is not beside this binary (build the mapbench tool); "
                 "no comparison was measured\n");
    return 1;
  }
  StagedDir dir(out_root, "compare");
  if (!dir.ok()) {
    std::fprintf(stderr, "lab compare: %s\n", dir.error().c_str());
    return 2;
  }
  const std::string json_path = dir.path("mapbench.json");
  const int rc = run_process({bench, "--quick", "--workloads", kWorkload, "--json", json_path});
  if (rc != 0) {
    std::fprintf(stderr, "lab compare: %s exited with status %d; no comparison was measured\n", bench.c_str(), rc);
    return 1;
  }
  std::ifstream f(json_path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string err;
  const std::string table = compare_table(ss.str(), &err);
  if (table.empty()) {
    std::fprintf(stderr, "lab compare: %s\n", err.c_str());
    return 1;
  }
  if (const absl::Status written = syncscope::prof::write_file_atomically(dir.path("table.txt"), table); !written.ok()) {
    std::fprintf(stderr, "lab compare: %s\n", std::string(written.message()).c_str());
    return 2;
  }
  if (!dir.commit()) {
    std::fprintf(stderr, "lab compare: %s\n", dir.error().c_str());
    return 2;
  }
  std::printf("\n━━ compare — the four designs (and installed peers) on %s, measured now by %s --quick\n%s"
              "files:\n  %s/mapbench.json\n  %s/table.txt\n",
              kWorkload, bench.c_str(), table.c_str(), dir.final_path().c_str(), dir.final_path().c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace syncscope::lab
