// Unit tests of the driver's pieces that do not run benchmarks: the Go output
// parser, option validation, and the JSON / markdown / SVG writers.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "go_harness.h"
#include "machine.h"
#include "options.h"
#include "report.h"

namespace syncscope::mapbench {
namespace {

// Shaped like `go test -bench -benchmem -v -cpu 1,2` output of Go 1.19.
constexpr const char* kGoOutput = R"(goos: linux
goarch: amd64
pkg: syncscope/mapbench
cpu: AMD EPYC
BenchmarkMap
BenchmarkMap/LoadMostlyHits
BenchmarkMap/LoadMostlyHits/go_sync_map
BenchmarkMap/LoadMostlyHits/go_sync_map           	  266401	       135.9 ns/op	       5 B/op	       0 allocs/op
BenchmarkMap/LoadMostlyHits/go_sync_map-2         	  307202	       111.5 ns/op	       5 B/op	       0 allocs/op
BenchmarkMap/SwapCollision/go_sync_map
    workloads.go:301: n/a: go_sync_map lacks Swap/CompareAndSwap/CompareAndDelete (they need Go 1.20; this is go1.19.8)
--- SKIP: BenchmarkMap/SwapCollision/go_sync_map
BenchmarkMap/SwapCollision/go_rwmutex_map
BenchmarkMap/ReadMostlyCache/go_rwmutex_map-2     	  170444	       127.2 ns/op	       391.2 read_ns	     78624 write_ops/s	       6 B/op	       0 allocs/op
PASS
ok  	syncscope/mapbench	1.804s
)";

TEST(MapbenchGoOutput, ResultLines_BecomeRecordsWithThreadsFromSuffix) {
  const auto recs = parse_go_bench_output(kGoOutput);
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[0].workload, "LoadMostlyHits");
  EXPECT_EQ(recs[0].system, "go_sync_map");
  EXPECT_EQ(recs[0].threads, 1);  // no suffix means GOMAXPROCS=1
  EXPECT_EQ(recs[0].ops, 266401u);
  EXPECT_DOUBLE_EQ(recs[0].ns_per_op, 135.9);
  EXPECT_DOUBLE_EQ(recs[0].allocs_per_op, 0);
  ASSERT_TRUE(recs[0].bytes_per_op.has_value());
  EXPECT_DOUBLE_EQ(*recs[0].bytes_per_op, 5);
  EXPECT_EQ(recs[1].threads, 2);
  EXPECT_FALSE(recs[1].na);
  EXPECT_EQ(recs[0].source, "go");
}

TEST(MapbenchGoOutput, SkipLines_BecomeNaRecordsWithTheReason) {
  const auto recs = parse_go_bench_output(kGoOutput);
  ASSERT_GE(recs.size(), 3u);
  EXPECT_TRUE(recs[2].na);
  EXPECT_EQ(recs[2].workload, "SwapCollision");
  EXPECT_EQ(recs[2].system, "go_sync_map");
  EXPECT_NE(recs[2].note.find("need Go 1.20"), std::string::npos) << recs[2].note;
  EXPECT_EQ(recs[2].note.find("workloads.go"), std::string::npos) << recs[2].note;
}

TEST(MapbenchGoOutput, CustomMetrics_FillCacheFields) {
  const auto recs = parse_go_bench_output(kGoOutput);
  ASSERT_EQ(recs.size(), 4u);
  ASSERT_TRUE(recs[3].read_ns.has_value());
  EXPECT_DOUBLE_EQ(*recs[3].read_ns, 391.2);
  ASSERT_TRUE(recs[3].write_ops_per_s.has_value());
  EXPECT_DOUBLE_EQ(*recs[3].write_ops_per_s, 78624);
}

TEST(MapbenchGoOutput, MalformedLines_AreIgnored) {
  EXPECT_TRUE(parse_go_bench_output("BenchmarkMap/X/y  abc  1 ns/op\nBenchmarkMap/only\n--- SKIP: nonsense\n").empty());
}

TEST(MapbenchGoOutput, BenchPattern_AnchorsEveryLevel) {
  EXPECT_EQ(go_bench_pattern({"SwapCollision", "Range"}, {"go_sync_map"}),
            "^BenchmarkMap$/^(SwapCollision|Range)$/^(go_sync_map)$");
}

Catalog test_catalog() {
  Catalog c;
  c.workloads = {"LoadMostlyHits", "Range", "ReadMostlyCache"};
  c.systems = {"ReadMostlyMap", "libcuckoo", "go_sync_map"};
  c.built_systems = {"libcuckoo", "go_sync_map"};
  c.cpus = 6;
  c.default_go_dir = "/nonexistent";
  return c;
}

ParseOutcome parse(std::vector<const char*> args) {
  args.insert(args.begin(), "syncscope-mapbench");
  return parse_options(static_cast<int>(args.size()), args.data(), test_catalog());
}

TEST(MapbenchOptions, Defaults_AllWorkloadsBuiltSystemsAndCpuSweep) {
  auto p = parse({});
  ASSERT_TRUE(p.options) << p.message;
  EXPECT_EQ(p.options->workloads, test_catalog().workloads);
  EXPECT_EQ(p.options->systems, test_catalog().built_systems);
  EXPECT_EQ(p.options->threads, (std::vector<int>{1, 2, 4, 6}));
  EXPECT_TRUE(p.options->go);
}

TEST(MapbenchOptions, Quick_UsesThreadsOneTwoAndShortRuns) {
  auto p = parse({"--quick"});
  ASSERT_TRUE(p.options) << p.message;
  EXPECT_EQ(p.options->threads, (std::vector<int>{1, 2}));
  EXPECT_LT(p.options->duration, std::chrono::milliseconds(100));
}

TEST(MapbenchOptions, Lists_AreValidatedAndPutInCanonicalOrder) {
  auto p = parse({"--workloads", "Range,LoadMostlyHits", "--threads", "4,1,4", "--no-go",
                  "--duration", "250ms"});
  ASSERT_TRUE(p.options) << p.message;
  EXPECT_EQ(p.options->workloads, (std::vector<std::string>{"LoadMostlyHits", "Range"}));
  EXPECT_EQ(p.options->threads, (std::vector<int>{1, 4}));
  EXPECT_FALSE(p.options->go);
  EXPECT_EQ(p.options->duration, std::chrono::milliseconds(250));
}

void expect_rejected(std::vector<const char*> args, const std::string& needle) {
  auto p = parse(args);
  EXPECT_FALSE(p.options.has_value());
  EXPECT_NE(p.exit_code, 0);
  EXPECT_NE(p.message.find(needle), std::string::npos) << p.message;
}

TEST(MapbenchOptions, BadInput_IsRejectedWithAClearMessage) {
  expect_rejected({"--workloads", "LoadMostlyHitz"}, "unknown workload 'LoadMostlyHitz'");
  expect_rejected({"--systems", "std_map"}, "unknown system 'std_map'");
  expect_rejected({"--systems", "ReadMostlyMap"}, "not built into this binary");
  expect_rejected({"--threads", "0"}, "bad thread count '0'");
  expect_rejected({"--threads", "1,x"}, "bad thread count 'x'");
  expect_rejected({"--duration", "-1s"}, "bad --duration '-1s'");
  expect_rejected({"--duration", "fast"}, "bad --duration");
  expect_rejected({"--bogus"}, "--bogus");
}

TEST(MapbenchOptions, ParseDuration_AcceptsUnitsAndRejectsNonPositive) {
  EXPECT_EQ(parse_duration("2s"), std::chrono::seconds(2));
  EXPECT_EQ(parse_duration("0.5"), std::chrono::milliseconds(500));
  EXPECT_EQ(parse_duration("300us"), std::chrono::microseconds(300));
  EXPECT_FALSE(parse_duration("0"));
  EXPECT_FALSE(parse_duration("-5ms"));
  EXPECT_FALSE(parse_duration("nan"));
  EXPECT_FALSE(parse_duration(""));
}

TEST(MapbenchMachine, DefaultThreadCounts_ArePowersOfTwoThenTheCpuCount) {
  EXPECT_EQ(default_thread_counts(1), (std::vector<int>{1}));
  EXPECT_EQ(default_thread_counts(2), (std::vector<int>{1, 2}));
  EXPECT_EQ(default_thread_counts(16), (std::vector<int>{1, 2, 4, 8, 16}));
  EXPECT_EQ(default_thread_counts(12), (std::vector<int>{1, 2, 4, 8, 12}));
  EXPECT_GE(describe_machine().cpus, 1);
}

std::vector<Record> sample_records() {
  Record a;
  a.workload = "LoadMostlyHits";
  a.system = "libcuckoo";
  a.threads = 2;
  a.ns_per_op = 12.5;
  a.allocs_per_op = 0;
  a.ops = 1000;
  a.source = "cpp";
  Record b = a;
  b.system = "go_sync_map";
  b.workload = "ReadMostlyCache";
  b.read_ns = 3.5;
  b.write_ops_per_s = 1e6;
  b.source = "go";
  Record c = a;
  c.workload = "Range";
  c.na = true;
  c.note = "no concurrent-safe delete";
  return {a, b, c};
}

RunContext sample_context() {
  RunContext ctx;
  ctx.machine.cpu_model = "Test CPU <x>";
  ctx.machine.cpus = 2;
  ctx.machine.kernel = "Linux 6";
  ctx.command = "syncscope-mapbench --quick";
  ctx.duration = "20ms";
  ctx.date = "2026-01-01T00:00:00Z";
  ctx.workloads = {"LoadMostlyHits", "Range", "ReadMostlyCache"};
  ctx.systems = {"libcuckoo", "go_sync_map"};
  ctx.threads = {2};
  return ctx;
}

TEST(MapbenchReport, Json_IsAListOfRecordsWithTheDesignFields) {
  const auto j = nlohmann::json::parse(render_json(sample_records()));
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 3u);
  for (const auto& r : j) {
    for (const char* field : {"workload", "system", "threads", "ns_per_op", "allocs_per_op", "ops"}) {
      EXPECT_TRUE(r.contains(field)) << field;
    }
  }
  EXPECT_DOUBLE_EQ(j[0]["ns_per_op"].get<double>(), 12.5);
  EXPECT_EQ(j[1]["read_ns"].get<double>(), 3.5);
  EXPECT_TRUE(j[2]["na"].get<bool>());
  EXPECT_TRUE(j[2]["ns_per_op"].is_null());
}

TEST(MapbenchReport, Markdown_StartsWithTheMachineAndHasATablePerThreadCount) {
  const std::string md = render_markdown(sample_records(), sample_context());
  EXPECT_NE(md.find("Machine: Test CPU <x>, 2 CPUs"), std::string::npos) << md;
  EXPECT_NE(md.find("## 2 threads"), std::string::npos);
  EXPECT_NE(md.find("| LoadMostlyHits | 12.5 · 0 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| Range | n/a |"), std::string::npos) << md;
  EXPECT_NE(md.find("3.50 ns · 1.00M/s"), std::string::npos) << md;
}

TEST(MapbenchReport, Markdown_StandingComparesOursWithPeersAndGo) {
  auto recs = sample_records();
  Record ours = recs[0];
  ours.system = "ShardedMap";
  ours.ns_per_op = 5;
  Record go = recs[0];
  go.system = "go_sync_map";
  go.ns_per_op = 50;
  recs.push_back(ours);
  recs.push_back(go);
  RunContext ctx = sample_context();
  ctx.systems = {"ShardedMap", "libcuckoo", "go_sync_map"};
  const std::string md = render_markdown(recs, ctx);
  EXPECT_NE(md.find("| LoadMostlyHits | ShardedMap 5.00 | libcuckoo 12.5 | 2.50× | 10.00× |"),
            std::string::npos)
      << md;
}

TEST(MapbenchReport, Svg_IsEscapedAndNamesTheMachineAndPanels) {
  const std::string svg = render_svg(sample_records(), sample_context());
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_NE(svg.find("Test CPU &lt;x&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("<x>"), std::string::npos);
  EXPECT_NE(svg.find(">LoadMostlyHits</text>"), std::string::npos);
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
}

TEST(MapbenchReport, Csv_HasOneLinePerRecordAndQuotesCommas) {
  auto recs = sample_records();
  recs[2].note = "a, b";
  const std::string csv = render_csv(recs);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
  EXPECT_NE(csv.find("\"a, b\""), std::string::npos);
}

}  // namespace
}  // namespace syncscope::mapbench
