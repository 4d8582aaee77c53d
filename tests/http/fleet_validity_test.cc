// Strict validity (issue 18 item 5) and the goroutineleak profile (item 3):
// every profile endpoint we serve, in a linked program and in an unmodified
// program under LD_PRELOAD, parses with pprof's own profile package, passes
// CheckValid, has a Mapping on every Location and Go's sample/period types
// (tools/pprofcheck). The goroutineleak profile lists exactly the tasks that
// can never be woken.
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "http/pprofcheck_runner.h"
#include "http/preloaded_program.h"
#include "http/start_server.h"

#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/live_blocks.h"
#include "syncscope/task/task.h"
#include "syncscope/task/task_registry.h"
#include "support/waiting_tasks.h"

namespace syncscope::http {
namespace {

using namespace std::chrono_literals;

struct Endpoint {
  std::string path;
  std::string kind;
  std::vector<std::string> checks;  // extra pprofcheck flags
};

// Fetches every endpoint from base (a running server) and runs pprofcheck.
[[maybe_unused]] void expect_all_valid(int port, const std::vector<Endpoint>& endpoints) {
  for (const Endpoint& e : endpoints) {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    httplib::Result r = c.Get(e.path);
    ASSERT_TRUE(r) << e.path;
    ASSERT_EQ(r->status, 200) << e.path << ": " << r->body.substr(0, 300);
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/octet-stream") << e.path;
    const test_support::CommandResult check = testing::pprofcheck(r->body, e.kind, e.checks);
    EXPECT_EQ(check.exit_code, 0) << e.path << " (kind " << e.kind << "):\n" << check.out << check.err;
  }
}

// The linked fixture profiles its own heap and finds the leaked task by
// reachability over the live blocks: it needs the allocation hooks, which
// the sanitizer builds leave out (FleetDocs covers their refusals there).
#if defined(SYNCSCOPE_HTTP_HAVE_RETAIN) && defined(SYNCSCOPE_HTTP_TEST_HAVE_HOOKS)

std::vector<std::unique_ptr<char[]>>* g_fleet_kept = nullptr;

__attribute__((noinline)) void fleet_test_allocate_kept_blocks() {
  g_fleet_kept = new std::vector<std::unique_ptr<char[]>>();
  for (int i = 0; i < 128; ++i) {
    g_fleet_kept->emplace_back(new char[32 * 1024]);
    g_fleet_kept->back()[0] = static_cast<char>(i);  // touch: keep the allocation real
  }
}

using test_support::KeptOwner;
using test_support::wait_blocked;

KeptOwner* volatile g_fleet_kept_owner = nullptr;  // volatile: the global store must stay

class FleetLinked : public ::testing::Test {
 protected:
  void SetUp() override {
    prof::HeapProfiler::set_sample_rate(4096);
    prof::HeapProfiler::start();
    prof::HeapProfiler::set_exact_mode(true);
    if (g_fleet_kept == nullptr) fleet_test_allocate_kept_blocks();
    waiting_ = test_support::spawn_waiting_tasks("fleet-leaky-waiter", "fleet-kept-waiter", g_fleet_kept_owner);
    ASSERT_TRUE(wait_blocked("fleet-leaky-waiter"));
    ASSERT_TRUE(wait_blocked("fleet-kept-waiter"));
  }
  void TearDown() override { EXPECT_TRUE(test_support::end_waiting_tasks(waiting_, g_fleet_kept_owner)); }
  test_support::WaitingTasks waiting_;
};

TEST_F(FleetLinked, EveryProfileEndpoint_PassesPprofCheckValid) {
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  expect_all_valid(server->port(),
                   {{"/debug/pprof/heap", "heap", {"-want-function", "fleet_test_allocate_kept_blocks"}},
                    {"/debug/pprof/allocs", "allocs", {"-min-samples", "1"}},
                    {"/debug/pprof/allocs?seconds=1", "allocs", {}},
                    {"/debug/pprof/goroutine", "goroutine", {"-min-samples", "2"}},
                    {"/debug/pprof/goroutineleak", "goroutineleak", {"-min-samples", "1"}},
                    {"/debug/pprof/retained", "retained", {"-min-samples", "1"}},
                    {"/debug/pprof/mutex", "mutex", {}},
                    {"/debug/pprof/block", "block", {}},
                    {"/debug/pprof/profile?seconds=1", "cpu", {}}});
}

TEST_F(FleetLinked, Goroutineleak_ListsOnlyTheTaskThatCanNeverWake) {
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  httplib::Client c("127.0.0.1", server->port());
  httplib::Result text = c.Get("/debug/pprof/goroutineleak?debug=1");
  ASSERT_TRUE(text);
  ASSERT_EQ(text->status, 200) << text->body;
  EXPECT_EQ(text->get_header_value("Content-Type"), "text/plain; charset=utf-8");
  // Oracle: the fixture made one task that can never wake and one that can.
  EXPECT_EQ(text->body.rfind("goroutineleak profile: total 1\n", 0), 0u) << text->body;
  EXPECT_NE(text->body.find("fleet-leaky-waiter"), std::string::npos) << text->body;
  EXPECT_NE(text->body.find("reply that never comes"), std::string::npos) << text->body;
  EXPECT_EQ(text->body.find("fleet-kept-waiter"), std::string::npos) << text->body;
  httplib::Result proto = c.Get("/debug/pprof/goroutineleak");
  ASSERT_TRUE(proto);
  ASSERT_EQ(proto->status, 200) << proto->body;
  EXPECT_EQ(proto->get_header_value("Content-Disposition"), "attachment; filename=\"goroutineleak\"");
  const test_support::CommandResult check = testing::pprofcheck(
      proto->body, "goroutineleak", {"-min-samples", "1", "-want-label", "name=fleet-leaky-waiter"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find(": 1 samples"), std::string::npos) << check.out;
  httplib::Result bad = c.Get("/debug/pprof/goroutineleak?seconds=1");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

#endif  // retain && hooks

#if defined(SYNCSCOPE_HTTP_TEST_HAVE_PRELOAD)  // the preload object builds outside sanitizer builds

// An unmodified C program: keeps blocks, and spins in a thread.
constexpr const char* kPreloadProgram = R"(
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void* kept[256];
static volatile double sink;
__attribute__((noinline)) void fleet_c_keep(void) {
  for (int i = 0; i < 256; i++) { kept[i] = malloc(32 * 1024); memset(kept[i], 1, 64); }
}
__attribute__((noinline)) void fleet_c_spin(void) {
  for (;;) { double x = 0; for (int i = 0; i < 100000; i++) x += i * 0.5; sink = x;
             void* volatile p = malloc(4096); memset(p, 0, 64); free(p); }  /* volatile: kept by GCC */
}
static void* spinner(void* arg) { (void)arg; fleet_c_spin(); return 0; }
int main(void) {
  pthread_t t;
  fleet_c_keep();
  pthread_create(&t, 0, spinner, 0);
  for (int i = 0; i < 600; i++) usleep(100000);  /* at most 60 s; the test stops it sooner */
  return 0;
}
)";

TEST(FleetPreload, EveryProfileEndpoint_PassesPprofCheckValid) {
  test_support::ScratchDir dir;
  const testing::PreloadedProgram program(dir, "fleet_target", kPreloadProgram, {"-pthread"});
  ASSERT_TRUE(program.ready()) << program.error();
  const int port = program.port();
  expect_all_valid(port, {{"/debug/pprof/heap", "heap", {"-want-function", "fleet_c_keep"}},
                          {"/debug/pprof/allocs", "allocs", {"-min-samples", "1"}},
                          {"/debug/pprof/allocs?seconds=1", "allocs", {}},
                          {"/debug/pprof/goroutine", "goroutine", {"-min-samples", "2"}},
                          {"/debug/pprof/goroutineleak", "goroutineleak", {}},
                          {"/debug/pprof/retained", "retained", {"-min-samples", "1"}},
                          {"/debug/pprof/mutex", "mutex", {}},
                          {"/debug/pprof/block", "block", {}},
                          {"/debug/pprof/profile?seconds=1", "cpu", {"-want-function", "fleet_c_spin"}}});
}

#endif  // SYNCSCOPE_HTTP_TEST_HAVE_PRELOAD

}  // namespace
}  // namespace syncscope::http
