// /metrics: the exposition format itself (unit), `promtool check metrics`
// on our output, and a real Prometheus server scraping us every second.
#include <httplib.h>

#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "syncscope/http/prometheus_writer.h"
#include "http/sources.h"
#include "http/prometheus_run.h"
#include "http/start_server.h"
#include "support/text_match.h"

#include "syncscope/map/locked_map.h"
#include "syncscope/task/task.h"
#include "syncscope/task/wait.h"

namespace syncscope::http {
namespace {

using namespace std::chrono_literals;
using test_support::ScratchDir;

// The build has the allocation hooks (not a sanitizer build): heap series exist.
#ifdef SYNCSCOPE_HTTP_TEST_HAVE_HOOKS
constexpr bool kHaveHooks = true;
#else
constexpr bool kHaveHooks = false;
#endif

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

// Independent readings of this process, for the process_* series.
// When the test binary was loaded (the process started just before).
const std::time_t g_loaded_at = std::time(nullptr);

double rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

double entries_in(const char* dir) {
  double n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// A real LockedMap registered as "http_test_map", driven to known stats:
// 789 keys stored, then 1234 loads that find their key and 56 that do not.
class TestMap {
 public:
  TestMap() : map_(map::MapOptions{"http_test_map", 0}) {
    for (std::int64_t k = 0; k < 789; ++k) map_.store(k, k);
    for (std::int64_t i = 0; i < 1234; ++i) (void)map_.load(i % 789);
    for (std::int64_t i = 0; i < 56; ++i) (void)map_.load(-1 - i);
  }

 private:
  map::LockedMap<std::int64_t, std::int64_t> map_;
};

// `count` tasks, each blocked on one future until the destructor fulfils it.
class KeptTasks {
 public:
  explicit KeptTasks(int count) : released_(release_.get_future().share()) {
    for (int i = 0; i < count; ++i) {
      tasks_.push_back(task::spawn_detached("metrics-kept-task", [f = released_] { task::wait(f, "test end"); }));
    }
  }
  ~KeptTasks() {
    release_.set_value();
    for (const task::TaskHandle& t : tasks_) EXPECT_TRUE(t.join_for(10s));
  }

 private:
  std::promise<void> release_;
  std::shared_future<void> released_;
  std::vector<task::TaskHandle> tasks_;
};

TEST(PrometheusWriter, EscapesLabelsAndWritesHelpType) {
  PrometheusWriter w;
  w.family("x_total", PrometheusWriter::Type::kCounter, "Help with \\ and\nnewline.");
  w.sample({{"map", "a\"b\\c\nd"}}, 3);
  EXPECT_EQ(w.text(),
            "# HELP x_total Help with \\\\ and\\nnewline.\n"
            "# TYPE x_total counter\n"
            "x_total{map=\"a\\\"b\\\\c\\nd\"} 3\n");
}

TEST(Metrics, Exposition_HasHelpTypeAndTheProcessOwnValues) {
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  const double rss_before = rss_bytes(), threads_before = entries_in("/proc/self/task");
  const double fds_before = entries_in("/proc/self/fd"), cpu_lo = cpu_seconds();
  const std::string text = scrape(server->port());
  const double rss_after = rss_bytes(), threads_after = entries_in("/proc/self/task");
  const double fds_after = entries_in("/proc/self/fd"), cpu_hi = cpu_seconds();
  const double rss_lo = std::min(rss_before, rss_after), rss_hi = std::max(rss_before, rss_after);
  const double threads_lo = std::min(threads_before, threads_after);
  const double threads_hi = std::max(threads_before, threads_after);
  const double fds_lo = std::min(fds_before, fds_after), fds_hi = std::max(fds_before, fds_after);
  ASSERT_FALSE(text.empty());
  // Every sample's family was announced with HELP and TYPE before it.
  std::set<std::string> typed;
  std::istringstream in(text);
  std::string line;
  const std::string type_re(R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$)");
  const std::string sample_re(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$)");
  while (std::getline(in, line)) {
    if (const auto type = test_support::match_whole(line, type_re)) {
      if ((*type)[2] == "counter") {
        EXPECT_TRUE((*type)[1].ends_with("_total")) << line;
      }
      typed.insert((*type)[1]);
    } else if (line.rfind("# HELP ", 0) != 0) {
      const auto sample = test_support::match_whole(line, sample_re);
      ASSERT_TRUE(sample.has_value()) << line;
      EXPECT_TRUE(typed.count((*sample)[1])) << "sample before TYPE: " << line;
    }
  }
  // Each process_* value lies between this process's own readings taken
  // around the scrape (the scrape itself may move them a little).
  EXPECT_GE(sample_value(text, "process_resident_memory_bytes"), 0.8 * rss_lo) << text;
  EXPECT_LE(sample_value(text, "process_resident_memory_bytes"), 1.25 * rss_hi) << text;
  EXPECT_GE(sample_value(text, "process_threads"), threads_lo);
  EXPECT_LE(sample_value(text, "process_threads"), threads_hi);
  EXPECT_GE(sample_value(text, "process_open_fds"), fds_lo - 2);  // the listing's own fd
  EXPECT_LE(sample_value(text, "process_open_fds"), fds_hi + 2);
  EXPECT_GE(sample_value(text, "process_start_time_seconds"), static_cast<double>(g_loaded_at) - 5);
  EXPECT_LE(sample_value(text, "process_start_time_seconds"), static_cast<double>(g_loaded_at) + 1);
  // Clock-tick granularity (10 ms) on both readings.
  EXPECT_GE(sample_value(text, "process_cpu_seconds_total"), cpu_lo - 0.02);
  EXPECT_LE(sample_value(text, "process_cpu_seconds_total"), cpu_hi + 0.02);
}

TEST(Metrics, PartSeries_PresentExactlyWhenPartIsBuilt) {
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  const std::string text = scrape(server->port());
  const internal::PartsPresent p = internal::parts_present();
  // The heap series need the allocation hooks too (not in sanitizer builds).
  EXPECT_EQ(text.find("# TYPE syncscope_heap_live_bytes gauge") != std::string::npos,
            p.prof && kHaveHooks);
  EXPECT_EQ(text.find("# TYPE syncscope_tasks_live gauge") != std::string::npos, p.task);
  EXPECT_EQ(text.find("# TYPE syncscope_maps_registered gauge") != std::string::npos, p.map);
  TestMap test_map;
  const std::string with_map = scrape(server->port());
  EXPECT_EQ(sample_value(with_map,
                         "syncscope_map_hits_total{map=\"http_test_map\",kind=\"LockedMap\"}"),
            1234);
  EXPECT_EQ(sample_value(with_map,
                         "syncscope_map_entries{map=\"http_test_map\",kind=\"LockedMap\"}"),
            789);
}

TEST(Metrics, PromtoolCheckMetrics_ReportsNoProblems) {
  if (!test_support::have_program("/usr/bin/promtool")) FAIL() << "promtool not installed: scripts/install-deps.sh provides it";
  TestMap test_map;  // so the per-map families are linted too
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  test_support::ScratchDir dir;
  const std::string text = scrape(server->port());
  ASSERT_FALSE(text.empty());
  {
    std::ofstream(dir.path() / "metrics.txt") << text;
  }
  // promtool reads the exposition on stdin; feed it through sh's redirect.
  const test_support::CommandResult r = test_support::run_command(
      {"sh", "-c", "promtool check metrics < \"$0\"", (dir.path() / "metrics.txt").string()});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out + r.err, "") << "promtool reported problems";
  std::ofstream(test_support::binary_dir() / "http-promtool-output.txt")
      << "$ promtool check metrics < metrics.txt\nexit " << r.exit_code << "\n" << r.out << r.err;
}

TEST(Metrics, RealPrometheus_ScrapesOurSeries) {
  if (!test_support::have_program("/usr/bin/prometheus")) FAIL() << "prometheus not installed: scripts/install-deps.sh provides it";
  TestMap test_map;
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  test_support::ScratchDir dir;
  testing::PrometheusRun prom(dir, "scrape_configs:\n  - job_name: syncscope\n    static_configs:\n"
                                   "      - targets: ['127.0.0.1:" + std::to_string(server->port()) + "']\n");
  ASSERT_GT(prom.pid(), 0);
  const auto up = prom.query("up{job=\"syncscope\"} == 1", 30s);
  ASSERT_TRUE(up.has_value()) << "Prometheus never scraped us; log:\n" << prom.log();
  const auto rss = prom.query("process_resident_memory_bytes{job=\"syncscope\"}", 10s);
  ASSERT_TRUE(rss.has_value());
  // Within a factor of two of this process's RSS now (Prometheus holds a
  // sample up to a second old; the test's own heap barely moves meanwhile).
  EXPECT_GE(*rss, 0.5 * rss_bytes());
  EXPECT_LE(*rss, 2.0 * rss_bytes());
  const auto threads = prom.query("process_threads{job=\"syncscope\"}", 10s);
  ASSERT_TRUE(threads.has_value());
  // This process's threads now, give or take the server's short-lived ones.
  EXPECT_GE(*threads, 2);
  EXPECT_LE(*threads, entries_in("/proc/self/task") + 4);
  // A counter Prometheus accepted as such: rate() over it works.
  const auto ok = prom.query(
      "syncscope_http_responses_total{job=\"syncscope\",code=\"2xx\"} >= 1", 10s);
  ASSERT_TRUE(ok.has_value());
  EXPECT_GE(*ok, 1);
  const auto hits = prom.query("syncscope_map_hits_total{map=\"http_test_map\"}", 10s);
  ASSERT_TRUE(hits.has_value());
  EXPECT_EQ(*hits, 1234);
  {
    // Oracle: the tasks this test keeps alive, on top of those alive before.
    const double before = sample_value(scrape(server->port()), "syncscope_tasks_live");
    ASSERT_GE(before, 0) << "no syncscope_tasks_live series";
    KeptTasks kept(3);
    const std::string want = std::to_string(static_cast<int>(before) + 3);
    const auto live = prom.query("syncscope_tasks_live{job=\"syncscope\"} == " + want, 10s);
    EXPECT_TRUE(live.has_value())
        << "Prometheus never saw " << want << " live tasks; last seen: "
        << prom.query("syncscope_tasks_live{job=\"syncscope\"}", 1s).value_or(-1);
  }
  if (internal::parts_present().prof && kHaveHooks) {
    // Oracle: a block this test holds, and glibc's own count of the bytes
    // in use (mallinfo2, chunk sizes: never less than the usable sizes the
    // hooks count), read after Prometheus's answer came.
    constexpr std::size_t kHeld = 48u << 20;
    std::unique_ptr<char[]> held(new char[kHeld]);
    held[0] = 1;
    const double floor = static_cast<double>(kHeld);
    const auto heap = prom.query(
        "syncscope_heap_live_bytes{job=\"syncscope\"} >= " + std::to_string(kHeld), 10s);
    const struct mallinfo2 glibc = ::mallinfo2();
    const double in_use = static_cast<double>(glibc.uordblks + glibc.hblkhd);
    ASSERT_TRUE(heap.has_value()) << "Prometheus never saw the " << kHeld << " bytes this test holds";
    EXPECT_GE(*heap, floor);
    // The scrape is up to a second older than the reading: allow the
    // test's own small allocations (httplib buffers) to have moved.
    EXPECT_LE(*heap, in_use + (1 << 20)) << "more live bytes than glibc has in use";
    held[kHeld - 1] = held[0];  // keep the block alive until here
  }
  prom.stop();
}

}  // namespace
}  // namespace syncscope::http
