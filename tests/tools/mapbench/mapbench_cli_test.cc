// Integration tests of the real syncscope-mapbench binary: one quick-mode run
// of every workload over every system (Go harness included when `go` is on
// PATH), checked for complete, sane output; and the bad-flag exits.
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/scratch_dir.h"

namespace {

namespace test_support = syncscope::test_support;

namespace fs = std::filesystem;

using test_support::CommandResult;
using test_support::read_file;

// bin/syncscope-mapbench of the build under test, shell-quoted.
std::string binary() {
  return test_support::shell_quote((test_support::binary_dir() / "bin" / "syncscope-mapbench").string());
}

// Runs the binary with args (shell-quoted by the caller where needed),
// within the test's own time limit.
CommandResult run(const std::string& args) {
  return test_support::run_shell(binary() + " " + args, std::chrono::seconds(380));
}

bool go_available() { return test_support::have_program("go"); }

class MapbenchCli : public ::testing::Test {
 protected:
  std::vector<std::string> list(const char* what) {
    CommandResult r = run("--list");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::istringstream in(r.out);
    for (std::string line; std::getline(in, line);) {
      const std::string prefix = std::string(what) + ": ";
      if (line.rfind(prefix, 0) != 0) continue;
      std::vector<std::string> names;
      std::istringstream items(line.substr(prefix.size()));
      for (std::string n; std::getline(items, n, ',');) names.push_back(n);
      return names;
    }
    return {};
  }
  test_support::ScratchDir scratch_;
  const fs::path dir_ = scratch_.path();
};

// Where a system may legitimately be n/a: it lacks the operation.
bool na_allowed(const std::string& system, const std::string& workload) {
  const bool swap_family = workload.rfind("Swap", 0) == 0 || workload.rfind("CompareAnd", 0) == 0;
  if (system == "go_sync_map") return swap_family;  // sync.Map before Go 1.20
  if (system == "tbb_concurrent_hash_map") return workload == "AdversarialDelete";
  if (system == "tbb_concurrent_unordered_map") {
    static const std::set<std::string> deleting = {
        "LoadAndDeleteBalanced", "LoadAndDeleteUnique", "LoadAndDeleteCollision", "AdversarialDelete",
        "DeleteCollision", "SwapMostlyHits", "SwapMostlyMisses", "CompareAndSwapNoExistingKey",
        "CompareAndDeleteCollision", "CompareAndDeleteMostlyHits", "CompareAndDeleteMostlyMisses"};
    return deleting.count(workload) != 0;
  }
  return false;
}

TEST_F(MapbenchCli, QuickRun_EveryWorkloadRunsForEverySystem) {
  const auto workloads = list("workloads");
  auto systems = list("systems");
  ASSERT_EQ(workloads.size(), 24u);
  ASSERT_GE(systems.size(), 5u);  // at least the three C++ peers and the two Go maps
  const bool go = go_available();
  if (!go) {
    std::erase_if(systems, [](const std::string& s) { return s.rfind("go_", 0) == 0; });
  }
  const fs::path json = dir_ / "r.json", md = dir_ / "r.md", svg = dir_ / "r.svg", csv = dir_ / "r.csv";
  CommandResult r = run("--quick --json " + json.string() + " --markdown " + md.string() + " --svg " +
                        svg.string() + " --csv " + csv.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto records = nlohmann::json::parse(read_file(json));
  ASSERT_TRUE(records.is_array());
  std::set<std::tuple<std::string, std::string, int>> seen;
  for (const auto& rec : records) {
    for (const char* f : {"workload", "system", "threads", "ns_per_op", "allocs_per_op", "ops"}) {
      ASSERT_TRUE(rec.contains(f)) << f << " missing in " << rec.dump();
    }
    const auto w = rec["workload"].get<std::string>(), s = rec["system"].get<std::string>();
    const int t = rec["threads"].get<int>();
    seen.insert({w, s, t});
    if (rec.value("na", false)) {
      EXPECT_TRUE(na_allowed(s, w)) << "unexpected n/a: " << rec.dump();
      EXPECT_FALSE(rec.value("note", std::string()).empty()) << rec.dump();
      continue;
    }
    const double ns = rec["ns_per_op"].get<double>(), allocs = rec["allocs_per_op"].get<double>();
    EXPECT_GT(rec["ops"].get<std::uint64_t>(), 0u) << rec.dump();
    EXPECT_TRUE(std::isfinite(ns) && ns > 0) << rec.dump();
    EXPECT_TRUE(std::isfinite(allocs) && allocs >= 0) << rec.dump();
    EXPECT_EQ(rec.value("errors", 0), 0) << rec.dump();
    if (w == "ReadMostlyCache") {
      EXPECT_GT(rec.value("read_ns", 0.0), 0) << rec.dump();
      EXPECT_GT(rec.value("write_ops_per_s", 0.0), 0) << rec.dump();
    }
  }
  for (const auto& w : workloads) {
    for (const auto& s : systems) {
      for (int t : {1, 2}) EXPECT_TRUE(seen.count({w, s, t})) << w << " " << s << " threads=" << t;
    }
  }
  const std::string markdown = read_file(md);
  EXPECT_NE(markdown.find("- Machine: "), std::string::npos);
  EXPECT_NE(markdown.find("| LoadMostlyHits |"), std::string::npos);
  EXPECT_NE(markdown.find("## ReadMostlyCache"), std::string::npos);
  const std::string chart = read_file(svg);
  EXPECT_EQ(chart.rfind("<svg", 0), 0u);
  EXPECT_NE(chart.find(">LoadOrStoreBalanced</text>"), std::string::npos);
  EXPECT_NE(read_file(csv).find("workload,system,threads,ns_per_op"), std::string::npos);
}

TEST_F(MapbenchCli, CountsAllocations_ForAWorkloadThatMustAllocate) {
  // Every LoadOrStoreUnique op stores a new key: libcuckoo allocates only
  // when it grows, tbb's hash map allocates a node per insert.
  const fs::path json = dir_ / "a.json";
  CommandResult r = run("--quick --no-go --workloads LoadOrStoreUnique,LoadMostlyHits --systems "
                    "tbb_concurrent_hash_map --threads 1 --json " + json.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto records = nlohmann::json::parse(read_file(json));
  ASSERT_EQ(records.size(), 2u);
  for (const auto& rec : records) {
    const double allocs = rec["allocs_per_op"].get<double>();
    if (rec["workload"] == "LoadOrStoreUnique") {
      EXPECT_GE(allocs, 0.9) << rec.dump();
    } else {
      EXPECT_LT(allocs, 0.01) << rec.dump();
    }
  }
}

TEST_F(MapbenchCli, BadFlags_ExitNonZeroWithAClearMessage) {
  struct Case {
    std::string args, needle;
  };
  const std::vector<Case> cases = {
      {"--workloads NoSuchWorkload", "unknown workload 'NoSuchWorkload'"},
      {"--systems std_map", "unknown system 'std_map'"},
      {"--threads 0", "bad thread count '0'"},
      {"--threads 1,-2", "bad thread count '-2'"},
      {"--duration=-1s", "bad --duration '-1s'"},
      {"--duration -1s", "bad --duration '-1s'"},
      {"--duration 0", "bad --duration '0'"},
      {"--no-such-flag", "no-such-flag"},
  };
  for (const auto& c : cases) {
    CommandResult r = run(c.args);
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.err.find(c.needle), std::string::npos) << c.args << " -> " << r.err;
    EXPECT_EQ(r.err.find("mapbench: ["), std::string::npos) << "ran benchmarks despite " << c.args;
  }
}

TEST_F(MapbenchCli, WithoutGo_WarnsAndSkipsTheGoSystems) {
  const fs::path json = dir_ / "g.json";
  // An empty PATH: no `go` can be found (and build/bin has no bundled harness).
  const CommandResult r = test_support::run_shell(
      "env PATH=/nonexistent " + binary() +
          " --quick --workloads DeleteCollision --systems libcuckoo,go_sync_map --threads 1 --json " +
          json.string(),
      std::chrono::seconds(380));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("go not found in PATH"), std::string::npos) << r.err;
  const auto records = nlohmann::json::parse(read_file(json));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["system"], "libcuckoo");
  EXPECT_GT(records[0]["ops"].get<std::uint64_t>(), 0u);
}

TEST_F(MapbenchCli, UnwritableOutput_FailsWithTheReason) {
  CommandResult r = run("--quick --no-go --workloads DeleteCollision --systems libcuckoo --threads 1 "
                    "--json /nonexistent-dir/x.json");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("cannot write '/nonexistent-dir/x.json'"), std::string::npos) << r.err;
}

}  // namespace
