// The dashboard in a real browser: headless Chromium loads /debug/, runs the
// page's script for five seconds of virtual time against the live server,
// and the DOM must show rendered data (samples taken, chart points drawn,
// tables filled). A screenshot is saved in the build directory as
// http-dashboard.png, the test's artifact.
#include <httplib.h>

#include <string>

#include <gtest/gtest.h>

#include "http/sources.h"
#include "http/start_server.h"
#include "support/text_match.h"

#include "syncscope/map/map_registry.h"

namespace syncscope::http {
namespace {

constexpr const char* kChromium = "/usr/bin/chromium";

std::vector<std::string> chromium_argv(const test_support::ScratchDir& profile) {
  return {kChromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
          "--no-first-run", "--disable-background-networking", "--disable-component-update",
          "--disable-sync", "--disable-dev-shm-usage", "--window-size=1400,1100",
          "--user-data-dir=" + (profile.path() / "profile").string(),
          "--virtual-time-budget=5000"};
}

// The integer in attribute `attr` of the element with id `id`, or -1.
long attribute_number(const std::string& dom, const std::string& id, const std::string& attr) {
  auto m = test_support::search(dom, "id=\"" + id + "\"[^>]*" + attr + "=\"([0-9]+)\"");
  if (!m.has_value()) {
    m = test_support::search(dom, attr + "=\"([0-9]+)\"[^>]*id=\"" + id + "\"");
    if (!m.has_value()) return -1;
  }
  return std::stol((*m)[1]);
}

TEST(Dashboard, PageIsSelfContainedHtml) {
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  httplib::Client c("127.0.0.1", server->port());
  auto r = c.Get("/debug/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(r->body.find("/debug/api/summary"), std::string::npos);
  EXPECT_NE(r->body.find("/debug/retain"), std::string::npos);
  // No external resources: the machine may have no internet.
  EXPECT_EQ(r->body.find("src=\"http"), std::string::npos);
  EXPECT_EQ(r->body.find("href=\"http"), std::string::npos);
  auto redirect = c.Get("/debug");
  ASSERT_TRUE(redirect);
  EXPECT_EQ(redirect->status, 301);
}

TEST(Dashboard, HeadlessChromium_RendersLiveData) {
  if (!test_support::have_program(kChromium)) FAIL() << "chromium not installed: scripts/install-deps.sh provides it";
  std::atomic<std::uint64_t> hits{0};
  const std::uint64_t handle = map::MapRegistry::instance().register_map("dashboard_map", [&] {
    map::MapStats s;
    s.kind = "ReadMostlyMap";
    // relaxed: a counter the stats function samples; nothing else is published.
    s.hits = hits.fetch_add(1000, std::memory_order_relaxed);
    s.live_entries = 42;
    return s;
  });
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  test_support::ScratchDir dir;
  std::vector<std::string> argv = chromium_argv(dir);
  argv.push_back("--dump-dom");
  argv.push_back(server->url() + "/debug/");
  const test_support::CommandResult r = test_support::run_command(
      argv, {{"HOME", dir.path().string()}}, std::chrono::seconds(90));
  ASSERT_EQ(r.exit_code, 0) << r.err.substr(0, 2000);
  const std::string& dom = r.out;
  // The page polled the summary several times and drew what it got.
  EXPECT_GE(attribute_number(dom, "status", "data-samples"), 2) << dom.substr(0, 3000);
  EXPECT_GE(attribute_number(dom, "chart-heap", "data-points"), 2) << "RSS series drawn";
  EXPECT_TRUE(test_support::contains_match(dom, "samples: [0-9]+ · RSS [0-9.]+ [KMG]iB"));
  EXPECT_EQ(dom.find("<div class=\"err\" id=\"status\""), std::string::npos)
      << "a poll failed:\n" << dom.substr(0, 3000);
  if (internal::parts_present().task) {
    EXPECT_GE(attribute_number(dom, "chart-tasks", "data-points"), 2);
  }
  EXPECT_NE(dom.find("<td>dashboard_map</td>"), std::string::npos) << "maps table filled";
  EXPECT_GE(attribute_number(dom, "chart-maps", "data-points"), 1) << "loads/s series drawn";

  // Screenshot: the artifact a reviewer looks at.
  const std::string shot = (test_support::binary_dir() / "http-dashboard.png").string();
  std::vector<std::string> argv2 = chromium_argv(dir);
  argv2.push_back("--screenshot=" + shot);
  argv2.push_back(server->url() + "/debug/");
  const test_support::CommandResult s = test_support::run_command(
      argv2, {{"HOME", dir.path().string()}}, std::chrono::seconds(90));
  EXPECT_EQ(s.exit_code, 0) << s.err.substr(0, 2000);
  EXPECT_GT(std::filesystem::exists(shot) ? std::filesystem::file_size(shot) : 0u, 10000u);
  map::MapRegistry::instance().unregister(handle);
}

}  // namespace
}  // namespace syncscope::http
