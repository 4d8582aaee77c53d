// The debug-build check of the family contract (internal/reentrancy_check.h),
// compiled on here whatever the build type. A visit() callback may call the
// same map on every family for copyable values (the check stays silent);
// a lock-based map holding move-only values runs the callback under the
// shard lock, and a callback that calls the same map there must stop the
// process with a message naming the cause (without the check it deadlocks,
// or a shared_mutex throws "Resource deadlock avoided"). Each case runs in a
// forked child with a deadline and its stderr captured.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>

#include <gtest/gtest.h>

#include "conformance/map_types.h"
#include "support/forked_child.h"

static_assert(SYNCSCOPE_MAP_CHECK_REENTRANCY, "this test is built with the check on");

namespace syncscope::map::testing {
namespace {

using test_support::ChildOutcome;
using test_support::run_in_child;

// Runs body in a child whose stderr goes to a file; returns the outcome and
// what the child wrote there.
template <class Body>
std::pair<ChildOutcome, std::string> run_capturing_stderr(Body body) {
  char path[] = "/tmp/syncscope-reentrancy-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return {ChildOutcome{}, "mkstemp failed"};
  const ChildOutcome out = run_in_child(
      [&] {
        dup2(fd, STDERR_FILENO);
        return body();
      },
      std::chrono::seconds(20));
  close(fd);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  unlink(path);
  return {out, text.str()};
}

template <class Family>
class MapReentrancyCheckTest : public ::testing::Test {};
TYPED_TEST_SUITE(MapReentrancyCheckTest, AllMapFamilies, FamilyName);

// Copyable values: every family's visit() callback may call the same map
// (the family rule); the check must not fire.
TYPED_TEST(MapReentrancyCheckTest, VisitCallbackCallingTheSameMap_IsAllowed) {
  const auto [out, err] = run_capturing_stderr([] {
    auto m = TypeParam::template make<std::int64_t, std::int64_t>();
    m->store(1, 1);
    m->visit(1, [&](const std::int64_t& v) { m->store(1, v + 1); });
    return m->load(1) == 2 ? 0 : 1;
  });
  EXPECT_TRUE(out.exited_with(0)) << out.describe() << "\n" << err;
}

// Move-only values: a lock-based map runs visit()'s callback under the shard
// lock (it cannot copy the value), so a callback calling the same map is the
// forbidden call and must stop the process with the message.
TYPED_TEST(MapReentrancyCheckTest, MoveOnlyVisitCallbackCallingTheSameMap_ChecksTheContract) {
  const auto [out, err] = run_capturing_stderr([] {
    auto m = TypeParam::template make<std::int64_t, std::unique_ptr<std::int64_t>>();
    m->store(1, std::make_unique<std::int64_t>(1));
    m->visit(1, [&](const std::unique_ptr<std::int64_t>& v) {
      m->store(1, std::make_unique<std::int64_t>(*v + 1));
    });
    bool two = false;
    m->visit(1, [&](const std::unique_ptr<std::int64_t>& v) { two = *v == 2; });
    return two ? 0 : 1;
  });
  if constexpr (std::is_same_v<TypeParam, ReadMostlyFamily>) {
    EXPECT_TRUE(out.exited_with(0)) << out.describe() << "\n" << err;
  } else {
    EXPECT_TRUE(out.killed_by(SIGABRT)) << out.describe() << "\n" << err;
    EXPECT_NE(err.find("a map was called from user code it runs under its own lock"),
              std::string::npos)
        << err;
  }
}

}  // namespace
}  // namespace syncscope::map::testing
