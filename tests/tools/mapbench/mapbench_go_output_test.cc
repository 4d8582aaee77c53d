// The Go output parser on real `go test -bench` output, captured by the test
// from the harness it parses in production (tools/mapbench/go), not on
// hand-written text. The oracle is independent of the parser: a regular
// expression over the raw result lines, the iteration count the test fixed
// with -benchtime=Nx, and the Go version's known gaps (sync.Map's
// Swap/CompareAndSwap/CompareAndDelete arrived in Go 1.20).
//
// And the two harnesses run the same work: for four workloads, the Go
// harness's own code over a counting map (go_opcount/opcount_test.go, copied
// beside the harness) and the C++ port over a counting adapter give the same
// calls, hits and distinct keys per operation kind, in setup and in N
// iterations on one thread.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "go_harness.h"
#include "ops.h"
#include "support/text_match.h"
#include "workloads.h"

namespace syncscope::mapbench {
namespace {

namespace fs = std::filesystem;

constexpr int kIterations = 200;  // -benchtime=200x: b.N is exactly this

struct Captured {
  int exit_code = -1;
  std::string output;
};

// Runs `command` through the shell; stdout and stderr together.
Captured capture(const std::string& command) {
  Captured c;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return c;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) c.output.append(buf, n);
  const int status = ::pclose(p);
  c.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return c;
}

// The Go harness as production runs it (go_harness.h): a fresh GOPATH and
// GOCACHE, GOFLAGS unset, no network.
class GoBenchOutput : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* src = std::getenv("SYNCSCOPE_SOURCE_DIR");
    ASSERT_NE(src, nullptr) << "ctest sets SYNCSCOPE_SOURCE_DIR";
    go_dir_ = fs::path(src) / "tools" / "mapbench" / "go";
    char tmpl[] = "/tmp/syncscope-go-output-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  Captured go(const std::string& args) const {
    return capture("cd '" + go_dir_.string() + "' && env GOPATH='" + (tmp_ / "gopath").string() +
                   "' GOCACHE='" + (tmp_ / "gocache").string() +
                   "' GOPROXY=off GOFLAGS= GOWORK=off go " + args);
  }

  fs::path go_dir_;
  fs::path tmp_;
};

struct Line {
  int iterations = 0;
  double ns_per_op = 0;
};
using Cell = std::tuple<std::string, std::string, int>;  // workload, system, threads

// The oracle's own reading of the result lines.
std::map<Cell, Line> result_lines(const std::string& output) {
  static const std::string re(
      R"(^BenchmarkMap/([A-Za-z]+)/([a-z_]+?)(?:-([0-9]+))?\s+([0-9]+)\s+([0-9.]+) ns/op\b.*$)");
  std::map<Cell, Line> out;
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    const auto m = test_support::match_whole(line, re);
    if (!m.has_value()) continue;
    const int threads = m->matched(3) ? std::stoi((*m)[3]) : 1;
    out[{(*m)[1], (*m)[2], threads}] = Line{std::stoi((*m)[4]), std::stod((*m)[5])};
  }
  return out;
}

TEST_F(GoBenchOutput, RealGoTestOutput_EveryResultLineBecomesItsRecord) {
  const Captured version = go("version");
  ASSERT_EQ(version.exit_code, 0) << "go not installed: scripts/install-deps.sh provides it\n"
                                  << version.output;
  // Go 1.19 (Debian 12) lacks sync.Map's Swap family; newer Go measures it.
  const bool go_before_1_20 = version.output.find("go1.19") != std::string::npos ||
                              version.output.find("go1.18") != std::string::npos;

  const Captured bench =
      go("test -run '^$' -bench '^BenchmarkMap$/^(LoadMostlyHits|SwapCollision|ReadMostlyCache)$/' "
         "-benchmem -v -cpu 1,2 -benchtime " + std::to_string(kIterations) + "x .");
  ASSERT_EQ(bench.exit_code, 0) << bench.output;

  const std::map<Cell, Line> expected = result_lines(bench.output);
  const std::vector<Record> records = parse_go_bench_output(bench.output);

  // 3 workloads x 2 systems x 2 thread counts, minus sync.Map's Swap cells
  // on Go < 1.20, each a result line.
  const std::size_t cells = go_before_1_20 ? 10 : 12;
  EXPECT_EQ(expected.size(), cells) << bench.output;

  std::size_t measured = 0;
  for (const Record& r : records) {
    if (r.na) continue;
    ++measured;
    SCOPED_TRACE(r.workload + "/" + r.system + "-" + std::to_string(r.threads));
    const auto it = expected.find({r.workload, r.system, r.threads});
    ASSERT_NE(it, expected.end()) << "a record with no result line";
    EXPECT_EQ(r.ops, static_cast<std::uint64_t>(kIterations));
    EXPECT_EQ(it->second.iterations, kIterations);
    EXPECT_DOUBLE_EQ(r.ns_per_op, it->second.ns_per_op);
    EXPECT_GT(r.ns_per_op, 0);
    EXPECT_TRUE(r.bytes_per_op.has_value()) << "-benchmem columns";
    EXPECT_EQ(r.source, "go");
  }
  EXPECT_EQ(measured, expected.size()) << "every result line becomes one record";

  std::size_t na = 0;
  for (const Record& r : records) {
    if (!r.na) continue;
    ++na;
    EXPECT_EQ(r.workload, "SwapCollision");
    EXPECT_EQ(r.system, "go_sync_map");
    EXPECT_NE(r.note.find("Go 1.20"), std::string::npos) << r.note;
  }
  EXPECT_EQ(na, go_before_1_20 ? 1u : 0u) << bench.output;
}

// Operation counts of one phase of a workload: per kind, the calls, the
// calls that found their key, and the distinct keys touched.
struct KindCount {
  long calls = 0, found = 0;
  std::set<Key> keys;
};
using PhaseCounts = std::map<std::string, KindCount>;  // kind -> counts

// The C++ side: an adapter over std::map that counts like the Go harness's
// countingMap (tests/tools/mapbench/go_opcount/opcount_test.go).
struct CountingAdapter {
  static constexpr const char* kName = "counting";
  static constexpr unsigned kOps = kAllOps & ~(kRange | kRangeWhileWriting);
  std::map<Key, Value> m;
  PhaseCounts counts;
  void note(const char* kind, Key k, bool found) {
    KindCount& c = counts[kind];
    ++c.calls;
    c.found += found;
    c.keys.insert(k);
  }
  bool load(Key k, Value& out) {
    const auto it = m.find(k);
    if (it != m.end()) out = it->second;
    note("load", k, it != m.end());
    return it != m.end();
  }
  void store(Key k, Value v) {
    m[k] = v;
    note("store", k, false);
  }
  bool load_or_store(Key k, Value v, Value& actual) {
    const auto [it, inserted] = m.emplace(k, v);
    actual = it->second;
    note("load_or_store", k, !inserted);
    return !inserted;
  }
  bool load_and_delete(Key k, Value& out) {
    const auto it = m.find(k);
    const bool found = it != m.end();
    if (found) {
      out = it->second;
      m.erase(it);
    }
    note("load_and_delete", k, found);
    return found;
  }
  void erase(Key k) {
    m.erase(k);
    note("delete", k, false);
  }
  bool swap(Key k, Value v, Value& previous) {
    const auto it = m.find(k);
    const bool found = it != m.end();
    if (found) previous = it->second;
    m[k] = v;
    note("swap", k, found);
    return found;
  }
  bool compare_and_swap(Key k, Value old, Value nu) {
    const auto it = m.find(k);
    const bool swapped = it != m.end() && it->second == old;
    if (swapped) it->second = nu;
    note("compare_and_swap", k, swapped);
    return swapped;
  }
  bool compare_and_delete(Key k, Value old) {
    const auto it = m.find(k);
    const bool deleted = it != m.end() && it->second == old;
    if (deleted) m.erase(it);
    note("compare_and_delete", k, deleted);
    return deleted;
  }
};

constexpr long kCountedIterations = 1000;

// "<workload> <phase>" -> counts, from the C++ port on one thread.
template <class W>
void count_cpp(std::map<std::string, PhaseCounts>& out) {
  CountingAdapter a;
  W::setup(a);
  out[std::string(W::kName) + " setup"] = std::move(a.counts);
  a.counts.clear();
  typename W::State state{};
  for (std::int64_t i = 0; i < kCountedIterations; ++i) (void)W::step(a, i, state);
  out[std::string(W::kName) + " timed"] = std::move(a.counts);
}

// Workloads with different kinds, hit/miss mixes and key ranges.
constexpr const char* kCountedWorkloads =
    "LoadOrStoreBalanced,LoadAndDeleteBalanced,SwapMostlyMisses,CompareAndDeleteMostlyHits";

TEST_F(GoBenchOutput, OpCounts_GoAndCppRunTheSameMixOnTheSameKeys) {
  // The harness plus the counting file, in a scratch copy.
  const fs::path copy = tmp_ / "harness";
  fs::create_directories(copy);
  for (const auto& e : fs::directory_iterator(go_dir_)) fs::copy(e.path(), copy / e.path().filename());
  const char* src = std::getenv("SYNCSCOPE_SOURCE_DIR");
  fs::copy(fs::path(src) / "tests" / "tools" / "mapbench" / "go_opcount" / "opcount_test.go",
           copy / "opcount_test.go");
  const std::string n = std::to_string(kCountedIterations);
  const Captured run = capture(
      "cd '" + copy.string() + "' && env GOPATH='" + (tmp_ / "gopath").string() + "' GOCACHE='" +
      (tmp_ / "gocache").string() + "' GOPROXY=off GOFLAGS= GOWORK=off OPCOUNT_WORKLOADS=" +
      kCountedWorkloads + " go test -run '^$' -bench '^BenchmarkOpCount$' -cpu 1 -benchtime " + n +
      "x .");
  ASSERT_EQ(run.exit_code, 0) << run.output;

  // Go's lines of the b.N == N run: "opcount <workload> <phase>@<N> <kind> calls found keys".
  std::map<std::string, std::map<std::string, std::tuple<long, long, long>>> go;
  std::istringstream in(run.output);
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string tag, workload, phase, kind;
    long calls = 0, found = 0, keys = 0;
    if (!(f >> tag >> workload >> phase >> kind >> calls >> found >> keys) || tag != "opcount") continue;
    const std::string suffix = "@" + n;
    if (!phase.ends_with(suffix)) continue;
    go[workload + " " + phase.substr(0, phase.size() - suffix.size())][kind] = {calls, found, keys};
  }

  std::map<std::string, PhaseCounts> cpp;
  count_cpp<LoadOrStoreBalanced>(cpp);
  count_cpp<LoadAndDeleteBalanced>(cpp);
  count_cpp<SwapMostlyMisses>(cpp);
  count_cpp<CompareAndDeleteMostlyHits>(cpp);
  std::map<std::string, std::map<std::string, std::tuple<long, long, long>>> cpp_flat;
  for (const auto& [phase, kinds] : cpp) {
    for (const auto& [kind, c] : kinds) {
      cpp_flat[phase][kind] = {c.calls, c.found, static_cast<long>(c.keys.size())};
    }
  }
  EXPECT_EQ(go.size(), 8u) << "4 setups + 4 timed phases\n" << run.output;
  EXPECT_EQ(go, cpp_flat) << run.output;
  // The oracle is not vacuous: every timed phase did N operations' worth.
  for (const char* w : {"LoadOrStoreBalanced", "LoadAndDeleteBalanced", "SwapMostlyMisses",
                        "CompareAndDeleteMostlyHits"}) {
    long calls = 0;
    for (const auto& [kind, c] : cpp[std::string(w) + " timed"]) calls += c.calls;
    EXPECT_GE(calls, kCountedIterations) << w;
  }
}

}  // namespace
}  // namespace syncscope::mapbench
