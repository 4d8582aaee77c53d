// /debug/retain and /debug/pprof/retained against a live heap: a global
// holds a block allocated by a named function; "why alive?" must name it and
// `go tool pprof -top` must read the retention profile.
#include <httplib.h>

#include <memory>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "http/start_server.h"

#ifdef SYNCSCOPE_HTTP_HAVE_RETAIN
#include "syncscope/prof/heap_profiler.h"
#endif

namespace syncscope::http {
namespace {

#ifdef SYNCSCOPE_HTTP_HAVE_RETAIN
struct HttpRetainHolder {
  char* payload = nullptr;
};
HttpRetainHolder* g_holder = nullptr;  // the root: a global

__attribute__((noinline)) HttpRetainHolder* http_retain_test_make_holder() {
  auto* h = new HttpRetainHolder;
  h->payload = new char[32 * 1024];
  h->payload[0] = 1;
  return h;
}

class RetainEndpoints : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    prof::HeapProfiler::set_exact_mode(true);
    if (g_holder == nullptr) g_holder = http_retain_test_make_holder();
  }
};

// Allocation sites come from the allocation hooks, which sanitizer builds
// leave out (the scan itself runs there: the other tests).
#ifdef SYNCSCOPE_HTTP_TEST_HAVE_HOOKS
TEST_F(RetainEndpoints, WhyAlive_BySite_NamesThePath) {
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  httplib::Client c("127.0.0.1", server->port());
  c.set_read_timeout(60);
  auto r = c.Get("/debug/retain?site=http_retain_test_make_holder&format=json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  const nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r->body.substr(0, 300);
  EXPECT_NE(r->body.find("http_retain_test_make_holder"), std::string::npos) << r->body;
  auto text = c.Get("/debug/retain?site=http_retain_test_make_holder&format=text");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->status, 200) << text->body;
  EXPECT_EQ(text->get_header_value("Content-Type"), "text/plain; charset=utf-8");
}
#endif  // SYNCSCOPE_HTTP_TEST_HAVE_HOOKS

TEST_F(RetainEndpoints, BadAddress_Is400) {
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  httplib::Client c("127.0.0.1", server->port());
  auto r = c.Get("/debug/retain?addr=0xnothex");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400) << r->body;
}

TEST_F(RetainEndpoints, GoToolPprofTop_ReadsRetainedProfile) {
  if (test_support::run_command({"go", "version"}).exit_code != 0) FAIL() << "go not installed: scripts/install-deps.sh provides it";
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  test_support::ScratchDir home;
  const test_support::CommandResult r = test_support::run_command(
      {"go", "tool", "pprof", "-top", server->url() + "/debug/pprof/retained"},
      {{"HOME", home.path().string()}, {"PPROF_TMPDIR", home.path().string()}},
      std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("retained"), std::string::npos) << r.out;
}
#endif  // SYNCSCOPE_HTTP_HAVE_RETAIN

}  // namespace
}  // namespace syncscope::http
