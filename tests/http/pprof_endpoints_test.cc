// The profile endpoints against real clients: `go tool pprof -top` reads
// /debug/pprof/heap and /debug/pprof/goroutine from a test server; the text
// forms, delta profiles and the trace are checked over httplib::Client.
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "http/sources.h"
#include "http/start_server.h"

#include "syncscope/prof/heap_profiler.h"
#include "syncscope/task/task.h"
#include "syncscope/task/trace.h"

namespace syncscope::http {
namespace {

using test_support::CommandResult;
using test_support::ScratchDir;

// go tool pprof -top URL, with HOME and PPROF_TMPDIR in a temp dir.
CommandResult pprof_top(const std::string& url, const std::vector<std::string>& extra = {}) {
  ScratchDir home;
  std::vector<std::string> argv = {"go", "tool", "pprof", "-top"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(url);
  return test_support::run_command(argv,
                              {{"HOME", home.path().string()},
                               {"PPROF_TMPDIR", home.path().string()},
                               {"GOFLAGS", "-mod=mod"}},
                              std::chrono::seconds(60));
}

bool have_go() { return test_support::run_command({"go", "version"}).exit_code == 0; }

// The heap profile needs the allocation hooks, which sanitizer builds leave
// out; there the heap endpoints must say so (503) instead of serving nothing.
#if defined(SYNCSCOPE_HTTP_TEST_HAVE_HOOKS)
// Blocks kept alive for the whole test binary, allocated by a function whose
// name the heap profile must show.
std::vector<std::unique_ptr<char[]>>* g_kept = nullptr;

__attribute__((noinline)) void http_test_allocate_retained_blocks() {
  g_kept = new std::vector<std::unique_ptr<char[]>>();
  for (int i = 0; i < 256; ++i) {
    g_kept->emplace_back(new char[64 * 1024]);
    g_kept->back()[0] = static_cast<char>(i);  // touch: keep the allocation real
  }
}

class HeapEndpoints : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    prof::HeapProfiler::set_sample_rate(4096);
    prof::HeapProfiler::start();
    if (g_kept == nullptr) http_test_allocate_retained_blocks();
  }
};

TEST_F(HeapEndpoints, GoToolPprofTop_ReadsHeapProfile) {
  if (!have_go()) FAIL() << "go not installed: scripts/install-deps.sh provides it";
  ASSERT_TRUE(prof::HeapProfiler::hooks_installed());
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  const CommandResult r =
      pprof_top(server->url() + "/debug/pprof/heap", {"-sample_index=inuse_space"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Type: inuse_space"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("http_test_allocate_retained_blocks"), std::string::npos) << r.out;
}

TEST_F(HeapEndpoints, Allocs_IsSameDataWithAllocsFilename) {
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  httplib::Client c("127.0.0.1", server->port());
  auto r = c.Get("/debug/pprof/allocs");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/octet-stream");
  EXPECT_EQ(r->get_header_value("Content-Disposition"), "attachment; filename=\"allocs\"");
  ASSERT_GE(r->body.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(r->body[0]), 0x1f);  // gzip
  EXPECT_EQ(static_cast<unsigned char>(r->body[1]), 0x8b);
}

TEST_F(HeapEndpoints, Debug1_IsGoLegacyText) {
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  httplib::Client c("127.0.0.1", server->port());
  auto r = c.Get("/debug/pprof/heap?debug=1&gc=1");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(r->body.rfind("heap profile: ", 0), 0u) << r->body.substr(0, 200);
  EXPECT_NE(r->body.find("http_test_allocate_retained_blocks"), std::string::npos);
  EXPECT_NE(r->body.find("# LiveBytes = "), std::string::npos);
  EXPECT_FALSE(r->get_header_value("X-Syncscope-Note").empty());
}

TEST_F(HeapEndpoints, SecondsN_GivesDeltaWithDeltaFilename) {
  if (!have_go()) FAIL() << "go not installed: scripts/install-deps.sh provides it";
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  httplib::Client c("127.0.0.1", server->port());
  std::atomic<bool> done{false};
  std::thread churn([&] {
    // relaxed: a stop flag; the loop publishes nothing through it.
    while (!done.load(std::memory_order_relaxed)) {
      std::vector<std::unique_ptr<char[]>> v;
      for (int i = 0; i < 64; ++i) v.emplace_back(new char[8192]);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  auto r = c.Get("/debug/pprof/heap?seconds=1");
  done.store(true, std::memory_order_relaxed);  // relaxed: see the loop
  churn.join();
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Disposition"), "attachment; filename=\"heap-delta\"");
  ScratchDir dir;
  const std::string file = (dir.path() / "heap-delta.pb.gz").string();
  { std::ofstream(file, std::ios::binary) << r->body; }
  const CommandResult top = pprof_top(file, {"-sample_index=alloc_space"});
  EXPECT_EQ(top.exit_code, 0) << top.out << top.err;
  EXPECT_NE(top.out.find("Type: alloc_space"), std::string::npos) << top.out;
}
#else
TEST(HeapEndpointsWithoutHooks, HeapAndAllocs_Answer503) {
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  httplib::Client c("127.0.0.1", server->port());
  for (const char* path : {"/debug/pprof/heap", "/debug/pprof/allocs", "/debug/pprof/heap?debug=1"}) {
    auto r = c.Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 503) << path << ": " << r->body;
  }
}
#endif  // SYNCSCOPE_HTTP_TEST_HAVE_HOOKS

// Three tasks blocked on a gate the fixture opens on teardown.
class GoroutineEndpoints : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      handles_.push_back(task::spawn_detached("http-test-waiter", [this] {
        auto scope = task::blocking("http test gate", &gate_);
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return open_; });
      }));
    }
    // Wait until all three report blocked.
    for (int i = 0; i < 200; ++i) {
      int blocked = 0;
      for (const auto& h : handles_) blocked += h.info().state == task::TaskState::kBlocked;
      if (blocked == 3) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  void TearDown() override {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
    for (auto& h : handles_) h.join();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;  // guarded by mu_
  int gate_ = 0;       // its address is the wait object
  std::vector<task::TaskHandle> handles_;
};

TEST_F(GoroutineEndpoints, GoToolPprofTop_ReadsGoroutineProfile) {
  if (!have_go()) FAIL() << "go not installed: scripts/install-deps.sh provides it";
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  const CommandResult r = pprof_top(server->url() + "/debug/pprof/goroutine");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Type: goroutine"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("GoroutineEndpoints"), std::string::npos) << r.out;  // spawn site
}

TEST_F(GoroutineEndpoints, Debug1And2_ShowTasksAndThreads) {
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  httplib::Client c("127.0.0.1", server->port());
  auto d1 = c.Get("/debug/pprof/goroutine?debug=1");
  ASSERT_TRUE(d1);
  ASSERT_EQ(d1->status, 200) << d1->body;
  EXPECT_EQ(d1->body.rfind("goroutine profile: total ", 0), 0u) << d1->body.substr(0, 200);
  EXPECT_NE(d1->body.find("http test gate"), std::string::npos);
  auto d2 = c.Get("/debug/pprof/goroutine?debug=2");
  ASSERT_TRUE(d2);
  ASSERT_EQ(d2->status, 200) << d2->body;
  EXPECT_NE(d2->body.find("\"http-test-waiter\""), std::string::npos) << d2->body.substr(0, 500);
  EXPECT_NE(d2->body.find("syncscope-http"), std::string::npos) << "server threads listed";
}

TEST_F(GoroutineEndpoints, Summary_CountsLiveTasks) {
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  httplib::Client c("127.0.0.1", server->port());
  auto r = c.Get("/debug/api/summary");
  ASSERT_TRUE(r);
  const nlohmann::json j = nlohmann::json::parse(r->body);
  EXPECT_GE(j["tasks"]["live"].get<int>(), 3);
  EXPECT_GE(j["tasks"]["blocked"].get<int>(), 3);
}

TEST(TraceEndpoint, SecondsOne_IsChromeTraceJson) {
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  std::thread spawner([] {
    for (int i = 0; i < 5; ++i) {
      task::spawn_detached("http-trace-task", [] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }).join();
    }
  });
  httplib::Client c("127.0.0.1", server->port());
  auto r = c.Get("/debug/pprof/trace?seconds=1");
  spawner.join();
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(r->get_header_value("Content-Disposition"), "attachment; filename=\"trace.json\"");
  const nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r->body.substr(0, 300);
  ASSERT_TRUE(j.contains("traceEvents"));
  EXPECT_NE(r->body.find("http-trace-task"), std::string::npos);
}

TEST(TraceEndpoint, StopDuringLongTrace_CancelsPromptly) {
  // The trace handler turns the recorder on for its interval: tracing_enabled()
  // going true is the sign that the 30-second trace is in progress, so stop()
  // provably races a running trace instead of one that had not begun.
  ASSERT_FALSE(task::tracing_enabled()) << "an earlier test left tracing on";
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  std::thread client([port = server->port()] {
    httplib::Client c("127.0.0.1", port);
    c.Get("/debug/pprof/trace?seconds=30");
  });
  // Bounded: a handler that never starts fails here rather than hanging.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!task::tracing_enabled() && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const bool trace_was_running = task::tracing_enabled();
  const auto t0 = std::chrono::steady_clock::now();
  server->stop();
  const auto took = std::chrono::steady_clock::now() - t0;
  client.join();
  EXPECT_TRUE(trace_was_running) << "the trace request never started recording";
  // The cancelled handler turned the recorder back off.
  EXPECT_FALSE(task::tracing_enabled());
  // Behaviour, not speed: stop() must not wait out the 30-second trace.
  EXPECT_LT(took, std::chrono::seconds(15));
}

}  // namespace
}  // namespace syncscope::http
