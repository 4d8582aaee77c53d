// The lab's negative controls: workloads that are no leak, run through the
// same detector as the leaks, must read "no leak". Each is one short run
// (4 s, the leaks' length); assertions are on the diagnosis, not timings.
#include <string>

#include <gtest/gtest.h>

#include "lab_test_util.h"

namespace syncscope::lab::testing {
namespace {

constexpr double kSeconds = 4;

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Runs the control and checks the verdict reads "no leak"; returns it.
nlohmann::json expect_no_leak(const std::string& scenario) {
  ScratchDir out;
  const CommandResult r = run_lab(scenario, kSeconds, out.path());
  nlohmann::json v = read_verdict(out.path(), scenario);
  EXPECT_EQ(v["leak"], false) << v.dump(2);
  EXPECT_TRUE(contains(r.out, "VERDICT " + scenario + ": no leak")) << r.out;
  return v;
}

// Fills up during the warm-up, then only replaces: flat within the tolerance.
TEST(LabControls, WarmCacheThatPlateausIsNotALeak) {
  const nlohmann::json v = expect_no_leak("warm-cache");
  EXPECT_LE(v["growth_bytes"].get<double>(), v["tolerance_bytes"].get<double>()) << v.dump(2);
}

// three-level's workload without the held pointer: nothing keeps old wrappers.
TEST(LabControls, ThreeLevelWithoutAHeldPointerIsNotALeak) {
  const nlohmann::json v = expect_no_leak("three-level-copied");
  EXPECT_LE(v["growth_bytes"].get<double>(), v["tolerance_bytes"].get<double>()) << v.dump(2);
  EXPECT_TRUE(contains(v["workload"].get<std::string>(), "no pointer")) << v["workload"];
}

// The exporter still waits inside range(), but gives up after 100 ms: no
// reader stays pinned for the report's 0.5 s, and the backlog is freed.
TEST(LabControls, StalledReaderThatUnpinsInTimeIsNotALeak) {
  const nlohmann::json v = expect_no_leak("stalled-reader-unpins");
  EXPECT_TRUE(v["pinned_readers"].empty()) << v["pinned_readers"].dump(2);
  EXPECT_TRUE(contains(v["workload"].get<std::string>(), "at most 100 ms per range")) << v["workload"];
}

// Grows past the tolerance after warm-up, then stops at its bound: the
// judge must see that the growth ended, not only that it happened.
TEST(LabControls, GrowthThatStopsAtABoundIsNotALeak) {
  const nlohmann::json v = expect_no_leak("bounded-growth");
  EXPECT_GT(v["growth_bytes"].get<double>(), v["tolerance_bytes"].get<double>())
      << "the control no longer grows past the tolerance, so it tests nothing:\n" << v.dump(2);
  EXPECT_TRUE(contains(v["cause"].get<std::string>(), "levelled off")) << v["cause"];
}

}  // namespace
}  // namespace syncscope::lab::testing
