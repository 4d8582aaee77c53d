// libsyncscope_preload.so profiles programs that were not built with
// syncscope: a C program compiled here, and Debian's /usr/bin/sort. The
// profiles are read by the real `go tool pprof`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>

#include "prof/pprof_tool.h"

namespace {

using ::syncscope::prof::test_util::go_pprof;
using ::syncscope::prof::test_util::run_command;
using ::syncscope::prof::test_util::ScratchDir;
using ::testing::HasSubstr;

// Allocates 3:1 bytes from two known functions, keeps them live, and
// optionally waits for SIGUSR2 handling before exiting.
constexpr const char* kProgram = R"C(
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
void* keep[4000];
__attribute__((noinline)) void big_site(int i) { keep[i] = malloc(3000); memset(keep[i], 1, 3000); }
__attribute__((noinline)) void small_site(int i) { keep[i] = calloc(1, 1000); }
int main(int argc, char** argv) {
  for (int i = 0; i < 1000; ++i) big_site(i);
  for (int i = 1000; i < 2000; ++i) small_site(i);
  char* s = strdup("transient");
  free(s);
  if (argc > 1) sleep(atoi(argv[1]));
  return 0;
}
)C";

// Set by tests/prof/CMakeLists.txt to the built libsyncscope_preload.so.
std::string preload_path() { return SYNCSCOPE_PRELOAD_PATH; }

class PreloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(preload_path())) << preload_path();
    std::ofstream(dir_.file("prog.c")) << kProgram;
    int status = 0;
    const std::string out = run_command(
        "cc -g -O1 -fno-omit-frame-pointer -o '" + dir_.file("prog") + "' '" + dir_.file("prog.c") + "'",
        &status);
    ASSERT_EQ(status, 0) << out;
  }
  std::string env(const std::string& extra) const {
    return "LD_PRELOAD='" + preload_path() + "' " + extra + " ";
  }
  ScratchDir dir_;
};

TEST_F(PreloadTest, CProgram_ProfileNamesAllocationSitesWithWeights) {
  int status = 0;
  const std::string out = run_command(
      env("SYNCSCOPE_PROFILE_RATE=1 SYNCSCOPE_PROFILE_OUT='" + dir_.file("heap.%p.pb.gz") + "'") +
          dir_.file("prog"),
      &status);
  ASSERT_EQ(status, 0) << out;
  std::string profile;
  for (const auto& e : std::filesystem::directory_iterator(dir_.path())) {
    if (e.path().filename().string().rfind("heap.", 0) == 0) profile = e.path().string();
  }
  ASSERT_FALSE(profile.empty()) << "no heap.<pid>.pb.gz written; output: " << out;
  const std::string top =
      go_pprof(dir_, "-top -unit=B -sample_index=inuse_space -focus=_site", profile, &status);
  ASSERT_EQ(status, 0) << top;
  EXPECT_TRUE(std::regex_search(top, std::regex(R"(3000000B\s+75\.0+%.*big_site)"))) << top;
  EXPECT_TRUE(std::regex_search(top, std::regex(R"(1000000B\s+25\.0+%.*small_site)"))) << top;
  const std::string lines = go_pprof(dir_, "-traces -lines -focus=big_site", profile, &status);
  EXPECT_TRUE(std::regex_search(lines, std::regex(R"(big_site .*prog\.c:6)"))) << lines;
  EXPECT_THAT(lines, HasSubstr("main"));
  // strdup's block was freed: it is in alloc_space, not inuse_space.
  const std::string allocs = go_pprof(dir_, "-top -nodefraction=0 -sample_index=alloc_space", profile, &status);
  EXPECT_THAT(allocs, HasSubstr("strdup"));
}

TEST_F(PreloadTest, Sigusr2_DumpsWhileRunning) {
  const std::string path = dir_.file("signal.pb.gz");
  const std::string cmd = env("SYNCSCOPE_PROFILE_RATE=1 SYNCSCOPE_PROFILE_OUT='" + path + "'") +
                          "exec " + dir_.file("prog") + " 5";
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Give the program time to allocate and reach sleep(), then ask for a dump.
  bool written = false;
  for (int i = 0; i < 40 && !written; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (i >= 5) kill(pid, SIGUSR2);
    written = std::filesystem::exists(path);
  }
  kill(pid, SIGTERM);  // exits without running destructors: only the signal dump exists
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  ASSERT_TRUE(written);
  int status = 0;
  const std::string top = go_pprof(dir_, "-top -focus=_site", path, &status);
  ASSERT_EQ(status, 0) << top;
  EXPECT_THAT(top, HasSubstr("big_site"));
}

TEST_F(PreloadTest, BadEnvironment_ReportsAndKeepsRunning) {
  int status = 0;
  const std::string out = run_command(
      env("SYNCSCOPE_PROFILE_RATE=fast SYNCSCOPE_PROFILE_INTERVAL_S=-3 SYNCSCOPE_PROFILE_OUT='" +
          dir_.file("bad.pb.gz") + "'") + dir_.file("prog"),
      &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_THAT(out, HasSubstr("SYNCSCOPE_PROFILE_RATE='fast' is not an integer"));
  EXPECT_THAT(out, HasSubstr("SYNCSCOPE_PROFILE_INTERVAL_S='-3'"));
  EXPECT_TRUE(std::filesystem::exists(dir_.file("bad.pb.gz")));  // defaults still profile
}

TEST_F(PreloadTest, DebianSort_ProfileNamesAllocationSites) {
  {
    std::ofstream input(dir_.file("input.txt"));
    std::uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 200000; ++i) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      input << x << " line " << i << "\n";
    }
  }
  const std::string profile = dir_.file("sort.pb.gz");
  int status = 0;
  const std::string out = run_command(
      env("SYNCSCOPE_PROFILE_RATE=4096 SYNCSCOPE_PROFILE_OUT='" + profile + "'") +
          "/usr/bin/sort --parallel=1 -S 8M -o '" + dir_.file("sorted.txt") + "' '" +
          dir_.file("input.txt") + "'",
      &status);
  ASSERT_EQ(status, 0) << out;
  ASSERT_TRUE(std::filesystem::exists(profile)) << out;
  // sort itself is unaffected.
  const std::string check = run_command("sort -c '" + dir_.file("sorted.txt") + "'", &status);
  EXPECT_EQ(status, 0) << check;
  const std::string top = go_pprof(dir_, "-top -sample_index=alloc_space -nodecount=30", profile, &status);
  ASSERT_EQ(status, 0) << top;
  // The binary is stripped: its frames are named by module+offset; libc's by symbol.
  EXPECT_TRUE(std::regex_search(top, std::regex(R"(sort\+0x[0-9a-f]+)"))) << top;
  const std::string raw = go_pprof(dir_, "-raw", profile, &status);
  EXPECT_THAT(raw, HasSubstr("/usr/bin/sort"));
  EXPECT_TRUE(std::regex_search(raw, std::regex(R"(/usr/bin/sort [0-9a-f]{40})"))) << raw.substr(0, 3000);
}

}  // namespace
