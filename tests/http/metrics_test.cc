// /metrics: the exposition format itself (unit), `promtool check metrics`
// on our output, and a real Prometheus server scraping us every second.
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "syncscope/http/prometheus_writer.h"
#include "http/sources.h"
#include "http/test_support.h"

#ifdef SYNCSCOPE_HTTP_HAVE_MAP
#include "syncscope/map/map_registry.h"
#endif

namespace syncscope::http {
namespace {

using namespace std::chrono_literals;
using testing::TempDir;

std::string scrape(int port) {
  httplib::Client c("127.0.0.1", port);
  auto r = c.Get("/metrics");
  if (!r || r->status != 200) return "";
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  return r->body;
}

// Value of the first sample line starting with `series` (name plus labels).
double sample_value(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

#ifdef SYNCSCOPE_HTTP_HAVE_MAP
// Registers a map named "http_test_map" with fixed stats for the test's life.
class FakeMap {
 public:
  FakeMap() {
    handle_ = map::MapRegistry::instance().register_map("http_test_map", [] {
      map::MapStats s;
      s.kind = "ReadMostlyMap";
      s.hits = 1234;
      s.misses = 56;
      s.live_entries = 789;
      return s;
    });
  }
  ~FakeMap() { map::MapRegistry::instance().unregister(handle_); }

 private:
  std::uint64_t handle_ = 0;
};
#endif

TEST(PrometheusWriter, EscapesLabelsAndWritesHelpType) {
  PrometheusWriter w;
  w.family("x_total", PrometheusWriter::Type::kCounter, "Help with \\ and\nnewline.");
  w.sample({{"map", "a\"b\\c\nd"}}, 3);
  EXPECT_EQ(w.text(),
            "# HELP x_total Help with \\\\ and\\nnewline.\n"
            "# TYPE x_total counter\n"
            "x_total{map=\"a\\\"b\\\\c\\nd\"} 3\n");
}

TEST(Metrics, Exposition_HasHelpTypeAndPlausibleProcessValues) {
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  const std::string text = scrape(server->port());
  ASSERT_FALSE(text.empty());
  // Every sample's family was announced with HELP and TYPE before it.
  std::set<std::string> typed;
  std::istringstream in(text);
  std::string line;
  const std::regex type_re(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$)");
  const std::regex sample_re(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, type_re)) {
      if (m[2] == "counter") {
        EXPECT_TRUE(m[1].str().ends_with("_total")) << line;
      }
      typed.insert(m[1]);
    } else if (line.rfind("# HELP ", 0) != 0) {
      ASSERT_TRUE(std::regex_match(line, m, sample_re)) << line;
      EXPECT_TRUE(typed.count(m[1])) << "sample before TYPE: " << line;
    }
  }
  EXPECT_GT(sample_value(text, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(sample_value(text, "process_threads"), 2);  // main + listener at least
  EXPECT_GT(sample_value(text, "process_open_fds"), 2);
  EXPECT_GT(sample_value(text, "process_start_time_seconds"), 1.6e9);
  EXPECT_GE(sample_value(text, "process_cpu_seconds_total"), 0);
}

TEST(Metrics, PartSeries_PresentExactlyWhenPartIsBuilt) {
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  const std::string text = scrape(server->port());
  const internal::PartsPresent p = internal::parts_present();
  EXPECT_EQ(text.find("# TYPE syncscope_heap_live_bytes gauge") != std::string::npos, p.prof);
  EXPECT_EQ(text.find("# TYPE syncscope_tasks_live gauge") != std::string::npos, p.task);
  EXPECT_EQ(text.find("# TYPE syncscope_maps_registered gauge") != std::string::npos, p.map);
#ifdef SYNCSCOPE_HTTP_HAVE_MAP
  FakeMap fake;
  const std::string with_map = scrape(server->port());
  EXPECT_EQ(sample_value(with_map,
                         "syncscope_map_hits_total{map=\"http_test_map\",kind=\"ReadMostlyMap\"}"),
            1234);
  EXPECT_EQ(sample_value(with_map,
                         "syncscope_map_entries{map=\"http_test_map\",kind=\"ReadMostlyMap\"}"),
            789);
#endif
}

TEST(Metrics, PromtoolCheckMetrics_ReportsNoProblems) {
  if (!testing::have_program("/usr/bin/promtool")) FAIL() << "promtool not installed: scripts/install-deps.sh provides it";
#ifdef SYNCSCOPE_HTTP_HAVE_MAP
  FakeMap fake;  // so the per-map families are linted too
#endif
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  TempDir dir;
  const std::string text = scrape(server->port());
  ASSERT_FALSE(text.empty());
  {
    std::ofstream(dir.path() / "metrics.txt") << text;
  }
  // promtool reads the exposition on stdin; feed it through sh's redirect.
  const testing::CommandResult r = testing::run_command(
      {"sh", "-c", "promtool check metrics < \"$0\"", (dir.path() / "metrics.txt").string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out + r.err, "") << "promtool reported problems";
  std::ofstream(testing::binary_dir() / "http-promtool-output.txt")
      << "$ promtool check metrics < metrics.txt\nexit " << r.exit_code << "\n" << r.out << r.err;
}

// Polls Prometheus's HTTP API until `query` returns a sample (or times out).
std::optional<double> query_prometheus(int prom_port, const std::string& query,
                                       std::chrono::seconds timeout) {
  httplib::Client c("127.0.0.1", prom_port);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = c.Get("/api/v1/query", httplib::Params{{"query", query}}, httplib::Headers{});
    if (r && r->status == 200) {
      const nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
      if (!j.is_discarded() && j.value("status", "") == "success" &&
          !j["data"]["result"].empty()) {
        return std::stod(j["data"]["result"][0]["value"][1].get<std::string>());
      }
    }
    std::this_thread::sleep_for(250ms);
  }
  return std::nullopt;
}

TEST(Metrics, RealPrometheus_ScrapesOurSeries) {
  if (!testing::have_program("/usr/bin/prometheus")) FAIL() << "prometheus not installed: scripts/install-deps.sh provides it";
#ifdef SYNCSCOPE_HTTP_HAVE_MAP
  FakeMap fake;
#endif
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  TempDir dir;
  const int prom_port = testing::free_loopback_port();
  const auto config = dir.path() / "prometheus.yml";
  std::ofstream(config) << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                        << "scrape_configs:\n  - job_name: syncscope\n    static_configs:\n"
                        << "      - targets: ['127.0.0.1:" << server->port() << "']\n";
  testing::ChildProcess prom(
      {"/usr/bin/prometheus", "--config.file=" + config.string(),
       "--storage.tsdb.path=" + (dir.path() / "data").string(),
       "--web.listen-address=127.0.0.1:" + std::to_string(prom_port), "--log.level=warn"},
      dir.path() / "prometheus.log");
  ASSERT_GT(prom.pid(), 0);
  const auto up = query_prometheus(prom_port, "up{job=\"syncscope\"} == 1", 30s);
  ASSERT_TRUE(up.has_value()) << "Prometheus never scraped us; log:\n"
                              << testing::read_file(dir.path() / "prometheus.log");
  const auto rss = query_prometheus(prom_port, "process_resident_memory_bytes{job=\"syncscope\"}", 10s);
  ASSERT_TRUE(rss.has_value());
  EXPECT_GT(*rss, 1 << 20);
  EXPECT_LT(*rss, 64.0 * (1ull << 30));
  const auto threads = query_prometheus(prom_port, "process_threads{job=\"syncscope\"}", 10s);
  ASSERT_TRUE(threads.has_value());
  EXPECT_GE(*threads, 2);
  // A counter Prometheus accepted as such: rate() over it works.
  const auto ok = query_prometheus(
      prom_port, "syncscope_http_responses_total{job=\"syncscope\",code=\"2xx\"} >= 1", 10s);
  ASSERT_TRUE(ok.has_value());
  EXPECT_GE(*ok, 1);
#ifdef SYNCSCOPE_HTTP_HAVE_MAP
  const auto hits = query_prometheus(prom_port, "syncscope_map_hits_total{map=\"http_test_map\"}", 10s);
  ASSERT_TRUE(hits.has_value());
  EXPECT_EQ(*hits, 1234);
#endif
  if (internal::parts_present().task) {
    const auto live = query_prometheus(prom_port, "syncscope_tasks_live{job=\"syncscope\"}", 10s);
    ASSERT_TRUE(live.has_value());
    EXPECT_GE(*live, 0);
  }
  if (internal::parts_present().prof) {
    const auto heap = query_prometheus(prom_port, "syncscope_heap_live_bytes{job=\"syncscope\"}", 10s);
    ASSERT_TRUE(heap.has_value());
    EXPECT_GE(*heap, 0);
  }
  prom.stop();
}

}  // namespace
}  // namespace syncscope::http
