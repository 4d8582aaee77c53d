// docs/fleet.md's scrape configurations against our server (issue 18 item
// 6). The test reads the Parca, Alloy and Prometheus blocks from the doc, so
// the doc and the test cannot drift: every profile the Parca and Alloy
// blocks enable is requested the way that scraper requests it (path, and
// seconds= for delta profiles) and must answer 200 with a valid pprof body
// of the right kind; the Prometheus job is run by a real Prometheus.
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "http/pprofcheck_runner.h"
#include "http/prometheus_run.h"
#include "http/start_server.h"
#include "support/text_match.h"

namespace syncscope::http {
namespace {

using namespace std::chrono_literals;

std::string fleet_doc() {
  const char* src = std::getenv("SYNCSCOPE_SOURCE_DIR");
  return test_support::read_file(std::filesystem::path(src ? src : ".") / "docs" / "fleet.md");
}

// The fenced block after "<!-- fleet-config: NAME -->".
std::string config_block(const std::string& doc, const std::string& name) {
  const std::size_t marker = doc.find("<!-- fleet-config: " + name + " -->");
  if (marker == std::string::npos) return "";
  const std::size_t open = doc.find("```", marker);
  const std::size_t body = doc.find('\n', open);
  const std::size_t close = doc.find("\n```", body);
  if (open == std::string::npos || body == std::string::npos || close == std::string::npos) return "";
  return doc.substr(body + 1, close - body);
}

// One profile a scraper config enables.
struct Scrape {
  std::string name;
  std::string path;
  bool delta = false;
};

int indent_of(const std::string& line) { return static_cast<int>(line.find_first_not_of(' ')); }

// Parca: the children of pprof_config, by indentation.
std::vector<Scrape> parca_scrapes(const std::string& yaml, int* interval_s) {
  if (const auto m = test_support::search(yaml, "scrape_interval:\\s*\"(\\d+)s\"")) *interval_s = std::stoi((*m)[1]);
  std::vector<Scrape> out;
  std::istringstream in(yaml);
  int base = -1;
  bool enabled = false;
  for (std::string line; std::getline(in, line);) {
    if (line.find_first_not_of(' ') == std::string::npos) continue;
    const int indent = indent_of(line);
    const std::string text = line.substr(indent);
    if (text == "pprof_config:") {
      base = indent;
      continue;
    }
    if (base < 0) continue;
    if (indent <= base) break;
    if (indent == base + 2 && text.back() == ':') {
      if (!out.empty() && !enabled) out.pop_back();
      out.push_back({text.substr(0, text.size() - 1), "", false});
      enabled = false;
    } else if (!out.empty()) {
      if (const auto m = test_support::match_whole(text, "(\\w+):\\s*(\\S+)")) {
        if ((*m)[1] == "path") out.back().path = (*m)[2];
        if ((*m)[1] == "delta") out.back().delta = (*m)[2] == "true";
        if ((*m)[1] == "enabled") enabled = (*m)[2] == "true";
      }
    }
  }
  if (!out.empty() && !enabled) out.pop_back();
  return out;
}

// Alloy: every profile.<type> [ "<label>" ] { ... } block.
std::vector<Scrape> alloy_scrapes(const std::string& alloy, int* interval_s) {
  if (const auto m = test_support::search(alloy, "scrape_interval\\s*=\\s*\"(\\d+)s\"")) {
    *interval_s = std::stoi((*m)[1]);
  }
  std::vector<Scrape> out;
  const std::string block("profile\\.(\\w+)(?:\\s+\"([\\w-]+)\")?\\s*\\{([^}]*)\\}");
  for (const auto& m : test_support::search_all(alloy, block)) {
    const std::string body = m[3];
    Scrape s{m.matched(2) ? m[2] : m[1], "", false};
    if (const auto a = test_support::search(body, "path\\s*=\\s*\"([^\"]+)\"")) s.path = (*a)[1];
    if (const auto a = test_support::search(body, "delta\\s*=\\s*(true|false)")) s.delta = (*a)[1] == "true";
    const bool enabled = !test_support::contains_match(body, "enabled\\s*=\\s*false");
    if (enabled) out.push_back(s);
  }
  return out;
}

// pprofcheck's kind for a served path.
std::string kind_for(const std::string& path) {
  static const std::map<std::string, std::string> kinds = {
      {"/debug/pprof/allocs", "allocs"},     {"/debug/pprof/heap", "heap"},
      {"/debug/pprof/block", "block"},       {"/debug/pprof/mutex", "mutex"},
      {"/debug/pprof/goroutine", "goroutine"}, {"/debug/pprof/goroutineleak", "goroutineleak"},
      {"/debug/pprof/profile", "cpu"},       {"/debug/pprof/retained", "retained"}};
  auto it = kinds.find(path);
  return it == kinds.end() ? "" : it->second;
}

// What a build without some part answers instead of a profile: the status
// and a phrase of the reason. Sanitizer builds have no allocation hooks
// (their allocator replaces malloc), and the TSan build has no `retain`;
// there a scraper must get this refusal with its reason, never a broken
// profile.
struct Refusal {
  int status = 0;
  std::string reason;
};
std::optional<Refusal> refusal_in_this_build(const std::string& path) {
#if !defined(SYNCSCOPE_HTTP_TEST_HAVE_HOOKS)
  if (path == "/debug/pprof/heap" || path == "/debug/pprof/allocs") {
    return Refusal{503, "heap profiler hooks are not installed"};
  }
#endif
#if !defined(SYNCSCOPE_HTTP_HAVE_RETAIN)
  if (path == "/debug/pprof/retained" || path == "/debug/pprof/goroutineleak") {
    return Refusal{501, "not implemented"};
  }
#elif !defined(SYNCSCOPE_HTTP_TEST_HAVE_HOOKS)
  // ASan: `retain` is built, but the heap is the sanitizer's, not glibc's,
  // and there is no exact table to take the blocks from instead.
  if (path == "/debug/pprof/retained" || path == "/debug/pprof/goroutineleak") {
    return Refusal{500, "heap layout not recognised"};
  }
#endif
  (void)path;
  return std::nullopt;
}

// Requests every scrape as the scraper would (seconds= on delta profiles,
// shortened to 1 s for the test) and checks answer, headers and body; a
// profile this build cannot produce must be refused as refusal_in_this_build
// says.
void expect_scrapes_served(const std::vector<Scrape>& scrapes, int port) {
  for (const Scrape& s : scrapes) {
    const std::string kind = kind_for(s.path);
    ASSERT_FALSE(kind.empty()) << s.name << ": the doc names a path we do not serve: " << s.path;
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(60, 0);
    const std::string target = s.path + (s.delta ? "?seconds=1" : "");
    httplib::Result r = c.Get(target);
    ASSERT_TRUE(r) << target;
    if (const std::optional<Refusal> refusal = refusal_in_this_build(s.path)) {
      EXPECT_EQ(r->status, refusal->status) << target << ": " << r->body.substr(0, 300);
      EXPECT_NE(r->body.find(refusal->reason), std::string::npos) << target << ": " << r->body.substr(0, 300);
      continue;
    }
    ASSERT_EQ(r->status, 200) << target << ": " << r->body.substr(0, 300);
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/octet-stream") << target;
    const test_support::CommandResult check = testing::pprofcheck(r->body, kind);
    EXPECT_EQ(check.exit_code, 0) << target << ":\n" << check.out << check.err;
  }
}

std::set<std::string> paths_of(const std::vector<Scrape>& scrapes) {
  std::set<std::string> out;
  for (const Scrape& s : scrapes) out.insert(s.path);
  return out;
}

const std::set<std::string> kDefaultScrapedPaths = {
    "/debug/pprof/allocs", "/debug/pprof/block", "/debug/pprof/goroutine", "/debug/pprof/mutex",
    "/debug/pprof/profile"};

TEST(FleetDocs, ParcaConfig_EveryEnabledProfileServedValid) {
  const std::string yaml = config_block(fleet_doc(), "parca");
  ASSERT_FALSE(yaml.empty()) << "docs/fleet.md has no parca block";
  int interval = 0;
  const std::vector<Scrape> scrapes = parca_scrapes(yaml, &interval);
  const std::set<std::string> paths = paths_of(scrapes);
  for (const std::string& p : kDefaultScrapedPaths) EXPECT_TRUE(paths.count(p)) << "Parca's default " << p << " missing";
  EXPECT_TRUE(paths.count("/debug/pprof/retained") && paths.count("/debug/pprof/goroutineleak"));
  // Parca asks for seconds=<interval> (older) or <interval - 1>: both within our bound.
  ASSERT_GT(interval, 1);
  EXPECT_LE(interval, Options{}.max_seconds);
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  expect_scrapes_served(scrapes, server->port());
  // The delta contract: seconds past the bound or zero is a 400 with a reason.
  httplib::Client c("127.0.0.1", server->port());
  for (const Scrape& s : scrapes) {
    if (!s.delta) continue;
    for (const std::string& bad : {std::string("0"), std::to_string(Options{}.max_seconds + 1)}) {
      httplib::Result r = c.Get(s.path + "?seconds=" + bad);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 400) << s.path << "?seconds=" << bad;
      EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; charset=utf-8");
      EXPECT_NE(r->body.find("seconds"), std::string::npos) << r->body;
    }
  }
}

TEST(FleetDocs, AlloyConfig_EveryEnabledProfileServedValid) {
  const std::string alloy = config_block(fleet_doc(), "alloy");
  ASSERT_FALSE(alloy.empty()) << "docs/fleet.md has no alloy block";
  int interval = 0;
  const std::vector<Scrape> scrapes = alloy_scrapes(alloy, &interval);
  const std::set<std::string> paths = paths_of(scrapes);
  for (const std::string& p : kDefaultScrapedPaths) EXPECT_TRUE(paths.count(p)) << "Alloy's default " << p << " missing";
  std::set<std::string> custom;
  for (const Scrape& s : scrapes) custom.insert(s.name);
  EXPECT_TRUE(custom.count("retained") && custom.count("goroutineleak")) << "custom profiles missing";
  for (const Scrape& s : scrapes) {
    if (s.path == "/debug/pprof/profile") {
      EXPECT_TRUE(s.delta) << "Alloy scrapes CPU as a delta";
    }
  }
  // Alloy asks for seconds=<scrape_interval - 1>.
  ASSERT_GT(interval, 1);
  EXPECT_LE(interval - 1, Options{}.max_seconds);
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  expect_scrapes_served(scrapes, server->port());
}

TEST(FleetDocs, PrometheusJob_RealPrometheusScrapesUs) {
  if (!test_support::have_program("/usr/bin/prometheus")) FAIL() << "prometheus not installed: scripts/install-deps.sh provides it";
  std::string job = config_block(fleet_doc(), "prometheus");
  ASSERT_FALSE(job.empty()) << "docs/fleet.md has no prometheus block";
  const std::string doc_target = "127.0.0.1:6060";
  ASSERT_NE(job.find(doc_target), std::string::npos);
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  job.replace(job.find(doc_target), doc_target.size(), "127.0.0.1:" + std::to_string(server->port()));
  test_support::ScratchDir dir;
  const testing::PrometheusRun prom(dir, job);
  ASSERT_GT(prom.pid(), 0);
  const auto up = prom.query("up{job=\"syncscope\"} == 1", 30s);
  EXPECT_TRUE(up.has_value()) << "Prometheus never scraped the doc's job; log:\n" << prom.log();
}

}  // namespace
}  // namespace syncscope::http
