// The protobuf goroutine profile, read by the real client: go tool pprof.
#include <gtest/gtest.h>

#include "syncscope/task/task.h"
#include "task_test_util.h"

namespace syncscope::task {
namespace {

using namespace std::chrono_literals;

__attribute__((noinline)) TaskHandle spawn_pprof_waiter(Executor& ex, test::Gate& gate) {
  return ex.spawn("pprof-waiter", [&gate] { gate.wait("reply for pprof"); });
}

TEST(GoroutineProfileProto, GoToolPprofTop_ReadsIt) {
  test::Gate gate;
  Executor ex({.name = "pprof", .workers = 3});
  std::vector<TaskHandle> handles;
  for (int i = 0; i < 3; ++i) handles.push_back(spawn_pprof_waiter(ex, gate));
  ASSERT_TRUE(test::eventually([] { return test::blocked_named("pprof-waiter") == 3; }));

  test::ScratchDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string file = dir.file("goroutine.pb.gz");
  const absl::Status written = write_goroutine_profile(file, {});
  ASSERT_TRUE(written.ok()) << written;
  int status = 0;
  const std::string out = test::go_pprof(dir, "-top", file, &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("Type: goroutine"), std::string::npos) << out;
  EXPECT_NE(out.find("spawn_pprof_waiter"), std::string::npos) << out;
  // Labels survive: -tags lists them.
  const std::string tags = test::go_pprof(dir, "-tags", file, &status);
  EXPECT_EQ(status, 0) << tags;
  EXPECT_NE(tags.find("reply for pprof"), std::string::npos) << tags;
  const absl::Status failed = write_goroutine_profile("/nonexistent-dir/x.pb.gz", {});
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find("/nonexistent-dir/x.pb.gz"), std::string::npos);
  gate.open();
  for (auto& h : handles) h.join();
}

}  // namespace
}  // namespace syncscope::task
