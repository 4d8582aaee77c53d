// SYNCSCOPE_HTTP in an unmodified program: a small C program, compiled by
// the test, runs under LD_PRELOAD=libsyncscope_preload.so; `go tool pprof`
// reads its heap and goroutine profiles over HTTP; the program is then
// stopped by pid.
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "http/preloaded_program.h"
#include "http/start_server.h"

namespace syncscope::http {
namespace {

constexpr const char* kProgram = R"(
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void* kept[512];
__attribute__((noinline)) void leaky_c_function(void) {
  for (int i = 0; i < 512; i++) { kept[i] = malloc(64 * 1024); memset(kept[i], 1, 64); }
}
int main(void) {
  leaky_c_function();
  for (int i = 0; i < 600; i++) usleep(100000);  /* at most 60 s; the test kills it sooner */
  return 0;
}
)";

TEST(Preload, SyncscopeHttp_ServesPprofFromUnmodifiedProgram) {
  if (test_support::run_command({"go", "version"}).exit_code != 0) FAIL() << "go not installed: scripts/install-deps.sh provides it";
  test_support::ScratchDir dir;
  const testing::PreloadedProgram program(dir, "leaky", kProgram);
  ASSERT_TRUE(program.ready()) << program.error();
  const int port = program.port();
  httplib::Client c("127.0.0.1", port);
  auto cmdline = c.Get("/debug/pprof/cmdline");
  ASSERT_TRUE(cmdline);
  EXPECT_NE(cmdline->body.find("leaky"), std::string::npos) << "served from inside the program";

  const std::map<std::string, std::string> env = {{"HOME", dir.path().string()},
                                                  {"PPROF_TMPDIR", dir.path().string()}};
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  const test_support::CommandResult heap = test_support::run_command(
      {"go", "tool", "pprof", "-top", "-sample_index=inuse_space", base + "/debug/pprof/heap"},
      env, std::chrono::seconds(60));
  EXPECT_EQ(heap.exit_code, 0) << heap.out << heap.err;
  EXPECT_NE(heap.out.find("leaky_c_function"), std::string::npos) << heap.out << heap.err;
  const test_support::CommandResult gor = test_support::run_command(
      {"go", "tool", "pprof", "-top", base + "/debug/pprof/goroutine"}, env,
      std::chrono::seconds(60));
  EXPECT_EQ(gor.exit_code, 0) << gor.out << gor.err;
  EXPECT_NE(gor.out.find("Type: goroutine"), std::string::npos) << gor.out;
}

TEST(Preload, BadSyncscopeHttp_ReportsAndProgramStillRuns) {
  const std::string so = testing::preload_object();
  if (!std::filesystem::exists(so)) FAIL() << "no preload object at " << so << ": the build has no syncscope_preload target";
  const test_support::CommandResult r = test_support::run_command(
      {"/bin/true"}, {{"LD_PRELOAD", so}, {"SYNCSCOPE_HTTP", "not-an-address"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("SYNCSCOPE_HTTP"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace syncscope::http
