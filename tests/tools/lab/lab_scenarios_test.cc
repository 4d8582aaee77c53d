// Each leaking scenario is diagnosed as a leak, with the right spawn site and
// a retention path through the expected allocation sites; each fix is
// diagnosed as no leak (live bytes flat within the stated tolerance after
// warm-up). Assertions are on the diagnosis, never on timings.
#include <string>

#include <gtest/gtest.h>

#include "lab_test_util.h"

namespace syncscope::lab::testing {
namespace {

constexpr double kSeconds = 4;     // leaks: growth is clear within seconds
constexpr double kFixSeconds = 6;  // fixes: a longer warm-up lets the map's reclamation settle

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Whether some block hop of the retention path is allocated in `function`.
bool path_passes(const nlohmann::json& v, const std::string& function) {
  for (const auto& hop : v["retention_path"]) {
    if (hop["kind"] == "block" && contains(hop["site"].get<std::string>(), function)) return true;
  }
  return false;
}

// The resident-task group named `name`, or null.
nlohmann::json group_named(const nlohmann::json& v, const std::string& name) {
  for (const auto& g : v["resident_tasks"]) {
    if (g.value("name", "") == name) return g;
  }
  return nullptr;
}

// The resident-task group spawned in `function`, or null.
nlohmann::json group_at(const nlohmann::json& v, const std::string& function) {
  for (const auto& g : v["resident_tasks"]) {
    if (contains(g["spawn_site"].get<std::string>(), function)) return g;
  }
  return nullptr;
}

bool have_part(const nlohmann::json& v, const std::string& what) {
  for (const auto& u : v["unavailable"]) {
    if (contains(u.get<std::string>(), what)) return false;
  }
  return true;
}

TEST(LabScenarios, RangeSpawnIsALeakHeldByWaitingTasks) {
  ScratchDir out;
  const CommandResult r = run_lab("range-spawn", kSeconds, out.path());
  const nlohmann::json v = read_verdict(out.path(), "range-spawn");
  EXPECT_EQ(v["leak"], true) << v.dump(2);
  EXPECT_GT(v["live_bytes_end"].get<double>(), v["live_bytes_start"].get<double>());
  EXPECT_TRUE(contains(r.out, "VERDICT range-spawn: LEAK")) << r.out;
  if (have_part(v, "resident tasks")) {
    const nlohmann::json g = group_at(v, "sweep_capturing_value");
    ASSERT_FALSE(g.is_null()) << v["resident_tasks"].dump(2);
    EXPECT_GE(g["count"].get<int>(), 5);
    EXPECT_EQ(g["blocking_reason"], "reply from backend");
    EXPECT_TRUE(contains(g["spawn_site"].get<std::string>(), "cache_service.cc"));
  }
  // The retention scan is part of every build that has the lab's test: a
  // scenario that lost it (crash or watchdog, then rerun without it) fails.
  ASSERT_TRUE(have_part(v, "retention")) << v["unavailable"].dump(2);
  // The article's chain, from the default heap walk (no exact mode): a
  // waiting task's stack -> its closure -> the captured value (named by its
  // make_shared control block's type) -> the value's 64 KiB payload (named
  // by its site when the profiler sampled it, by its size otherwise).
  EXPECT_EQ(v["block_source"], "glibc heap walk");
  ASSERT_FALSE(v["retention_path"].empty()) << v.dump(2);
  EXPECT_EQ(v["retention_path"][0]["kind"], "root");
  EXPECT_TRUE(contains(v["retention_path"][0]["site"].get<std::string>(), "refresh check"))
      << v["retention_path"].dump(2);
  EXPECT_TRUE(path_passes(v, "syncscope::lab::CacheValue (make_shared)")) << v["retention_path"].dump(2);
  const nlohmann::json& target = v["retention_path"].back();
  EXPECT_TRUE(contains(target["site"].get<std::string>(), "allocate_cache_payload") ||
              target["size"].get<std::uint64_t>() >= 64 * 1024)
      << v["retention_path"].dump(2);
  EXPECT_TRUE(contains(v["cause"].get<std::string>(), "refresh check")) << v["cause"];
}

// --exact: every hop names its allocation site.
TEST(LabScenarios, RangeSpawnExact_EveryHopNamedByItsAllocationSite) {
  ScratchDir out;
  run_lab("range-spawn", kSeconds, out.path(), "--exact");
  const nlohmann::json v = read_verdict(out.path(), "range-spawn");
  EXPECT_EQ(v["leak"], true) << v.dump(2);
  EXPECT_EQ(v["block_source"], "exact live-block table");
  ASSERT_FALSE(v["retention_path"].empty()) << v.dump(2);
  EXPECT_TRUE(contains(v["retention_path"][0]["site"].get<std::string>(), "refresh check"))
      << v["retention_path"].dump(2);
  EXPECT_TRUE(path_passes(v, "make_cache_value")) << v["retention_path"].dump(2);
  EXPECT_TRUE(path_passes(v, "allocate_cache_payload")) << v["retention_path"].dump(2);
}

TEST(LabScenarios, ThreeLevelChainIsALeakThroughWrapperAndPayload) {
  ScratchDir out;
  run_lab("three-level", kSeconds, out.path());
  const nlohmann::json v = read_verdict(out.path(), "three-level");
  EXPECT_EQ(v["leak"], true) << v.dump(2);
  // The retention scan is part of every build that has the lab's test: a
  // scenario that lost it (crash or watchdog, then rerun without it) fails.
  ASSERT_TRUE(have_part(v, "retention")) << v["unavailable"].dump(2);
  ASSERT_FALSE(v["retention_path"].empty()) << v.dump(2);
  // Heap walk: the wrapper named by its make_shared type; the path goes on
  // through the items vector and a Payload to one of its byte buffers.
  EXPECT_TRUE(path_passes(v, "syncscope::lab::Wrapper (make_shared)")) << v["retention_path"].dump(2);
  EXPECT_GE(v["retention_path"].size(), 5u) << v["retention_path"].dump(2);
  EXPECT_TRUE(contains(v["retention_path"][0]["site"].get<std::string>(), "audit recorder"))
      << v["retention_path"].dump(2);
  if (have_part(v, "resident tasks")) {
    const nlohmann::json g = group_named(v, "audit recorder");
    ASSERT_FALSE(g.is_null()) << v["resident_tasks"].dump(2);
    EXPECT_TRUE(contains(g["spawn_site"].get<std::string>(), "three_level.cc"));
  }
}

TEST(LabScenarios, StalledReaderIsALeakNamedByThePinnedReaderReport) {
  ScratchDir out;
  run_lab("stalled-reader", kSeconds, out.path());
  const nlohmann::json v = read_verdict(out.path(), "stalled-reader");
  EXPECT_EQ(v["leak"], true) << v.dump(2);
  ASSERT_FALSE(v["pinned_readers"].empty()) << v.dump(2);
  EXPECT_EQ(v["pinned_readers"][0]["thread_name"], "export report");
  EXPECT_GE(v["pinned_readers"][0]["pinned_for_s"].get<double>(), 0.5);
  EXPECT_GT(v["map_backlog"]["objects"].get<double>(), 0);
  EXPECT_TRUE(contains(v["cause"].get<std::string>(), "export report")) << v["cause"];
  if (have_part(v, "resident tasks")) {
    const nlohmann::json g = group_named(v, "export report");
    ASSERT_FALSE(g.is_null()) << v["resident_tasks"].dump(2);
    EXPECT_EQ(g["blocking_reason"], "export slot");
    EXPECT_TRUE(contains(g["spawn_site"].get<std::string>(), "stalled_reader.cc"));
  }
}

// The fixes: same detector, same workload as range-spawn.
void expect_flat(const std::string& scenario) {
  ScratchDir out;
  const CommandResult r = run_lab(scenario, kFixSeconds, out.path());
  const nlohmann::json v = read_verdict(out.path(), scenario);
  EXPECT_EQ(v["leak"], false) << v.dump(2);
  // Stated tolerance: growth after warm-up below max(1 MiB, 10% of the start).
  EXPECT_LE(v["growth_bytes"].get<double>(), v["tolerance_bytes"].get<double>()) << v.dump(2);
  EXPECT_GE(v["tolerance_bytes"].get<double>(), 1024.0 * 1024.0);
  EXPECT_TRUE(contains(r.out, "VERDICT " + scenario + ": no leak")) << r.out;
}

TEST(LabScenarios, FixCopyIsNotALeak) { expect_flat("fix-copy"); }
TEST(LabScenarios, FixLoadIsNotALeak) { expect_flat("fix-load"); }
TEST(LabScenarios, FixPoolIsNotALeak) { expect_flat("fix-pool"); }

}  // namespace
}  // namespace syncscope::lab::testing
