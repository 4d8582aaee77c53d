// `lab compare` prints the four designs' figures measured by mapbench (when
// mapbench is built beside the lab) and fails clearly when it is not.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "lab_test_util.h"

namespace syncscope::lab::testing {
namespace {
namespace fs = std::filesystem;

TEST(LabCompare, PrintsTheDesignTableFromMapbench) {
  const fs::path mapbench = fs::path(lab_binary()).parent_path() / "syncscope-mapbench";
  ScratchDir out;
  const CommandResult r = run_shell(shell_quote(lab_binary()) + " compare --out " + shell_quote(out.path()));
  if (!fs::exists(mapbench)) {
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("syncscope-mapbench"), std::string::npos) << r.err;
    FAIL() << "syncscope-mapbench not built (install-deps.sh provides its dependencies; build all targets)";
  }
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const char* design : {"ReadMostlyMap", "LockedMap", "ShardedMap", "PooledShardedMap"}) {
    EXPECT_NE(r.out.find(std::string("\n") + design + " "), std::string::npos) << design << "\n" << r.out;
  }
  EXPECT_NE(r.out.find("read latency (ns)"), std::string::npos);
  EXPECT_NE(r.out.find("allocs/op"), std::string::npos);
  const nlohmann::json j = nlohmann::json::parse(read_file(out.file("compare/mapbench.json")), nullptr, false);
  ASSERT_TRUE(j.is_array());
  EXPECT_FALSE(j.empty());
  EXPECT_TRUE(fs::exists(out.path() / "compare" / "table.txt"));
}

}  // namespace
}  // namespace syncscope::lab::testing
