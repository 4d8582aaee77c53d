// The sanitizer stages' test of syncscope-mapbench: one quick run of the real
// binary, two worker threads, over the four syncscope maps and workloads that
// write, delete and read concurrently. Under ThreadSanitizer a data race in
// the driver or a map makes the binary exit non-zero (TSan's exit code);
// under ASan+UBSan a memory error or undefined behaviour aborts it. Either
// way this test fails, with the sanitizer's report in the message.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <tuple>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;

std::string binary() {
  std::error_code ec;
  const fs::path beside = fs::read_symlink("/proc/self/exe", ec).parent_path() / "syncscope-mapbench";
  if (!ec && fs::exists(beside)) return beside.string();
  const char* dir = std::getenv("SYNCSCOPE_BINARY_DIR");
  return std::string(dir != nullptr ? dir : ".") + "/bin/syncscope-mapbench";
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(MapbenchSanitized, QuickRunOfOurMapsOnTwoThreads_NoSanitizerReportAndEveryCellMeasured) {
  char tmpl[] = "/tmp/mapbench-sanitized-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const fs::path dir = tmpl;
  const fs::path json = dir / "run.json", err = dir / "stderr.txt";
  const std::string systems = "ReadMostlyMap,LockedMap,ShardedMap,PooledShardedMap";
  const std::string workloads = "LoadOrStoreBalanced,LoadAndDeleteBalanced,SwapCollision,ReadMostlyCache";
  const std::string cmd = binary() + " --quick --no-go --threads 2 --systems " + systems +
                          " --workloads " + workloads + " --json " + json.string() +
                          " >/dev/null 2>" + err.string();
  const int status = std::system(cmd.c_str());
  const std::string stderr_text = read_file(err);
  const std::string records_text = read_file(json);
  std::error_code ec;
  fs::remove_all(dir, ec);

  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << "\n"
                                                             << stderr_text;
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
  EXPECT_EQ(cells.size(), 16u) << "4 workloads x 4 maps at 2 threads";
}

}  // namespace
