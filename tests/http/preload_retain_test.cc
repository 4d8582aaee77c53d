// Retention for a program that never heard of syncscope: a C++ program,
// compiled by the test, runs under LD_PRELOAD=libsyncscope_preload.so with
// SYNCSCOPE_HTTP only (exact mode off, default sampling rate). Its leaks are
// unlike the lab's: polymorphic sessions held from a global vector, blobs in
// a std::map on a parked thread's stack, payloads captured by std::function
// callbacks queued in a global deque. Over HTTP, /debug/retain answers by
// type and by allocation site with the path from the named root through
// every hop, and `go tool pprof` reads /debug/pprof/retained.
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "http/start_server.h"

namespace syncscope::http {
namespace {

constexpr const char* kProgram = R"(
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <unistd.h>
#include <vector>

namespace app {
struct Session {
  virtual ~Session() = default;
  int id = 0;
  char* buffer = nullptr;
};
struct Blob { char bytes[3000]; };
struct Payload { std::vector<int> values; };
}  // namespace app

std::vector<std::unique_ptr<app::Session>> g_sessions;
std::deque<std::function<int()>> g_callbacks;

__attribute__((noinline)) char* allocate_session_buffer() {
  char* b = new char[1 << 20];
  std::memset(b, 7, 64);
  return b;
}

__attribute__((noinline)) void open_sessions() {
  for (int i = 0; i < 24; ++i) {
    auto s = std::make_unique<app::Session>();
    s->id = i;
    s->buffer = allocate_session_buffer();
    g_sessions.push_back(std::move(s));
  }
}

__attribute__((noinline)) void queue_callbacks() {
  for (int i = 0; i < 32; ++i) {
    auto p = std::make_shared<app::Payload>();
    p->values.assign(100, i);
    g_callbacks.push_back([p] { return p->values[0]; });
  }
}

__attribute__((noinline)) void hold_blobs_on_stack() {
  std::map<int, std::shared_ptr<app::Blob>> blobs;
  for (int i = 0; i < 16; ++i) blobs[i] = std::make_shared<app::Blob>();
  std::puts("ready");
  std::fflush(stdout);
  for (int i = 0; i < 600; ++i) usleep(100000);  // at most 60 s; the test stops it sooner
}

int main() {
  open_sessions();
  queue_callbacks();
  std::thread holder(hold_blobs_on_stack);
  holder.join();
  return 0;
}
)";

class PreloadRetain : public ::testing::Test {
 protected:
  void SetUp() override {
    so_ = (test_support::binary_dir() / "lib" / "libsyncscope_preload.so").string();
    ASSERT_TRUE(std::filesystem::exists(so_)) << "no preload object at " << so_;
    const auto src = dir_.path() / "leaker.cc";
    exe_ = dir_.path() / "leaker";
    std::ofstream(src) << kProgram;
    const test_support::CommandResult cc =
        test_support::run_command({"c++", "-std=c++20", "-O1", "-g", "-pthread", "-o", exe_.string(), src.string()});
    ASSERT_EQ(cc.exit_code, 0) << cc.err;
  }

  // Starts the program and waits until it is ready and serving.
  std::unique_ptr<test_support::ChildProcess> start(std::map<std::string, std::string> env) {
    port_ = test_support::free_loopback_port();
    env["LD_PRELOAD"] = so_;
    env["SYNCSCOPE_HTTP"] = "127.0.0.1:" + std::to_string(port_);
    auto child = std::make_unique<test_support::ChildProcess>(std::vector<std::string>{exe_.string()},
                                                         dir_.path() / "leaker.log", env);
    httplib::Client c("127.0.0.1", port_);
    for (int i = 0; i < 300; ++i) {
      auto r = c.Get("/debug/pprof/");
      if (r && r->status == 200 && test_support::read_file(dir_.path() / "leaker.log").find("ready") != std::string::npos)
        return child;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "never ready; log:\n" << test_support::read_file(dir_.path() / "leaker.log");
    return child;
  }

  nlohmann::json get_json(const std::string& path) {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60, 0);
    auto r = c.Get(path);
    if (!r) {
      ADD_FAILURE() << "no answer to " << path;
      return {};
    }
    EXPECT_EQ(r->status, 200) << path << ": " << r->body;
    auto j = nlohmann::json::parse(r->body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r->body;
    return j;
  }

  test_support::ScratchDir dir_;
  std::string so_;
  std::filesystem::path exe_;
  int port_ = 0;
};

// The hop names of a path, root first (the "site" of each "path" entry).
std::vector<std::string> hop_names(const nlohmann::json& path) {
  std::vector<std::string> out;
  for (const auto& h : path["path"]) out.push_back(h.value("site", ""));
  return out;
}

// A block hop found by its type: its `type` field names the type, and so
// does its `site` unless the preload sampled the block, which then keeps its
// allocation site (a 3000-byte Blob is sampled with probability about 0.6 %
// at the default 512 KiB rate: one of the 16 in about 9 % of runs).
void expect_hop_of_type(const nlohmann::json& hop, const std::string& type) {
  EXPECT_EQ(hop.value("type", ""), type) << hop.dump(2);
  if (hop.value("site_is_allocation", false)) {
    EXPECT_NE(hop.value("site", ""), "") << hop.dump(2);
  } else {
    EXPECT_EQ(hop.value("site", ""), type) << hop.dump(2);
  }
}

TEST_F(PreloadRetain, ByType_PathFromNamedGlobalThroughEveryHop) {
  auto child = start({});
  const nlohmann::json paths = get_json("/debug/retain?type=app::Session&format=json");
  ASSERT_TRUE(paths.is_array() && !paths.empty()) << paths.dump(2);
  const nlohmann::json& p = paths[0];
  ASSERT_TRUE(p.value("reachable", false)) << p.dump(2);
  const auto names = hop_names(p);
  ASSERT_EQ(names.size(), 3u) << p.dump(2);  // global -> vector buffer -> Session
  EXPECT_NE(names[0].find("g_sessions"), std::string::npos) << p.dump(2);
  EXPECT_EQ(p["path"][0].value("symbol", ""), "g_sessions") << p.dump(2);
  EXPECT_EQ(p["path"][0].value("module", ""), "main executable") << p.dump(2);
  EXPECT_NE(names[1].find("-byte block"), std::string::npos) << p.dump(2);
  EXPECT_EQ(names[2], "app::Session") << p.dump(2);
  EXPECT_EQ(p["path"][2].value("type", ""), "app::Session") << p.dump(2);
  EXPECT_EQ(p["path"][2].value("site_is_allocation", true), false) << p.dump(2);

  // Through a type-erased callable: the deque's block holds std::function
  // objects whose manager names the lambda; the capture holds the payload.
  const nlohmann::json payloads = get_json("/debug/retain?type=Payload&format=json");
  ASSERT_TRUE(payloads.is_array() && !payloads.empty()) << payloads.dump(2);
  const auto pn = hop_names(payloads[0]);
  ASSERT_GE(pn.size(), 3u) << payloads[0].dump(2);
  EXPECT_NE(pn.front().find("g_callbacks"), std::string::npos) << payloads[0].dump(2);
  expect_hop_of_type(payloads[0]["path"].back(), "app::Payload (make_shared)");

  // From a thread's stack, through std::map nodes.
  const nlohmann::json blobs = get_json("/debug/retain?type=Blob&format=json");
  ASSERT_TRUE(blobs.is_array() && !blobs.empty()) << blobs.dump(2);
  const auto bn = hop_names(blobs[0]);
  EXPECT_NE(bn.front().find("stack"), std::string::npos) << blobs[0].dump(2);
  EXPECT_NE(bn.front().find("hold_blobs_on_stack"), std::string::npos) << blobs[0].dump(2);
  EXPECT_EQ(blobs[0]["path"][0].value("frame", ""), "hold_blobs_on_stack") << blobs[0].dump(2);
  EXPECT_GT(blobs[0]["path"][0].value("thread_id", 0), 0) << blobs[0].dump(2);
  expect_hop_of_type(blobs[0]["path"].back(), "app::Blob (make_shared)");
}

// Sampled blocks keep their allocation site: 24 buffers of 1 MiB at the
// default 512 KiB rate are sampled with probability 1 - e^-2 each.
TEST_F(PreloadRetain, BySite_SampledBufferPathAndRetainedProfile) {
  auto child = start({});
  const nlohmann::json paths = get_json("/debug/retain?site=allocate_session_buffer&format=json");
  ASSERT_TRUE(paths.is_array() && !paths.empty()) << paths.dump(2);
  const auto names = hop_names(paths[0]);
  ASSERT_EQ(names.size(), 4u) << paths[0].dump(2);  // global -> vector buffer -> Session -> buffer
  EXPECT_NE(names[0].find("g_sessions"), std::string::npos) << paths[0].dump(2);
  EXPECT_EQ(names[2], "app::Session") << paths[0].dump(2);
  EXPECT_EQ(names[3], "allocate_session_buffer") << paths[0].dump(2);
  EXPECT_EQ(paths[0]["path"][3].value("site_is_allocation", false), true) << paths[0].dump(2);

  const std::map<std::string, std::string> env = {{"HOME", dir_.path().string()},
                                                  {"PPROF_TMPDIR", dir_.path().string()}};
  const test_support::CommandResult top = test_support::run_command(
      {"go", "tool", "pprof", "-top", "http://127.0.0.1:" + std::to_string(port_) + "/debug/pprof/retained"}, env,
      std::chrono::seconds(90));
  ASSERT_EQ(top.exit_code, 0) << top.out << top.err;
  EXPECT_NE(top.out.find("app::Session"), std::string::npos) << top.out;
}

// SYNCSCOPE_EXACT=1: every hop carries its allocation site.
TEST_F(PreloadRetain, ExactFromEnvironment_EveryHopHasASite) {
  auto child = start({{"SYNCSCOPE_EXACT", "1"}});
  const nlohmann::json paths = get_json("/debug/retain?type=app::Session&format=json");
  ASSERT_TRUE(paths.is_array() && !paths.empty()) << paths.dump(2);
  const auto names = hop_names(paths[0]);
  ASSERT_EQ(names.size(), 3u) << paths[0].dump(2);
  EXPECT_EQ(names[2], "open_sessions") << paths[0].dump(2);
}

// Another allocator serves malloc: the heap walk says which, by name, and
// does not guess (exact mode would still work there).
TEST_F(PreloadRetain, JemallocServesMalloc_AnswerNamesIt) {
  const std::string jemalloc = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";
  ASSERT_TRUE(std::filesystem::exists(jemalloc)) << "libjemalloc2 missing: run scripts/install-deps.sh";
  port_ = test_support::free_loopback_port();
  test_support::ChildProcess child({exe_.string()}, dir_.path() / "leaker.log",
                              {{"LD_PRELOAD", jemalloc + ":" + so_},
                               {"SYNCSCOPE_HTTP", "127.0.0.1:" + std::to_string(port_)}});
  httplib::Client c("127.0.0.1", port_);
  c.set_read_timeout(60, 0);
  int status = 0;
  std::string body;
  for (int i = 0; i < 300 && status == 0; ++i) {
    if (test_support::read_file(dir_.path() / "leaker.log").find("ready") != std::string::npos) {
      if (auto r = c.Get("/debug/retain?type=Session&format=text")) status = r->status, body = r->body;
    }
    if (status == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_NE(status, 0) << test_support::read_file(dir_.path() / "leaker.log");
  EXPECT_EQ(status, 503) << body;
  EXPECT_NE(body.find("jemalloc"), std::string::npos) << body;
  EXPECT_NE(body.find("exact mode still works"), std::string::npos) << body;
}

}  // namespace
}  // namespace syncscope::http
