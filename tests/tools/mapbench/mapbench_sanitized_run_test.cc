// The sanitizer stages' test of syncscope-mapbench: one quick run of the real
// binary, two worker threads, over the four syncscope maps and workloads that
// write, delete and read concurrently. Under ThreadSanitizer a data race in
// the driver or a map makes the binary exit non-zero (TSan's exit code);
// under ASan+UBSan a memory error or undefined behaviour aborts it. Either
// way this test fails, with the sanitizer's report in the message.
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <tuple>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/child_process.h"
#include "support/scratch_dir.h"

namespace {

namespace test_support = syncscope::test_support;

TEST(MapbenchSanitized, QuickRunOfOurMapsOnTwoThreads_NoSanitizerReportAndEveryCellMeasured) {
  const test_support::ScratchDir dir;
  const std::string json = dir.file("run.json");
  const std::string systems = "ReadMostlyMap,LockedMap,ShardedMap,PooledShardedMap,FlatGroupMap";
  const std::string workloads = "LoadOrStoreBalanced,LoadAndDeleteBalanced,SwapCollision,ReadMostlyCache";
  const test_support::CommandResult r = test_support::run_command(
      {(test_support::binary_dir() / "bin" / "syncscope-mapbench").string(), "--quick", "--no-go", "--threads", "2",
       "--systems", systems, "--workloads", workloads, "--json", json},
      {}, std::chrono::seconds(280));
  const std::string& stderr_text = r.err;
  const std::string records_text = test_support::read_file(json);

  ASSERT_EQ(r.exit_code, 0) << stderr_text;
  for (const char* report : {"ThreadSanitizer", "AddressSanitizer", "runtime error:"}) {
    EXPECT_EQ(stderr_text.find(report), std::string::npos) << stderr_text;
  }
  const auto records = nlohmann::json::parse(records_text, nullptr, false);
  ASSERT_TRUE(records.is_array()) << records_text;
  std::set<std::tuple<std::string, std::string, int>> cells;
  for (const auto& r : records) {
    SCOPED_TRACE(r.dump());
    EXPECT_FALSE(r.value("na", false));
    EXPECT_EQ(r.value("threads", 0), 2);
    EXPECT_GT(r.value("ops", 0.0), 0);
    cells.emplace(r.value("workload", ""), r.value("system", ""), r.value("threads", 0));
  }
  EXPECT_EQ(cells.size(), 20u) << "4 workloads x 5 maps at 2 threads";
}

}  // namespace
