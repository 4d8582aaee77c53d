// DebugServer lifecycle, option checks and the Go-compatible conventions of
// the always-present endpoints, exercised over real HTTP on 127.0.0.1.
#include "syncscope/http/debug_server.h"

#include <httplib.h>

#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "http/sources.h"
#include "http/start_server.h"

namespace syncscope::http {
namespace {

using testing::start_server;

TEST(DebugServer, StartOnEphemeralPort_ServesIndexAndStops) {
  auto server = start_server();
  ASSERT_NE(server, nullptr);
  EXPECT_TRUE(server->running());
  EXPECT_EQ(server->url(), "http://127.0.0.1:" + std::to_string(server->port()));
  httplib::Client c("127.0.0.1", server->port());
  auto r = c.Get("/debug/pprof/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
  for (const char* name : {"heap", "allocs", "goroutine", "trace", "retained", "cmdline", "symbol"}) {
    EXPECT_NE(r->body.find(std::string("href=\"") + name), std::string::npos) << name;
  }
  EXPECT_NE(r->body.find("Chrome trace-event JSON"), std::string::npos);
  const int port = server->port();
  server->stop();
  EXPECT_FALSE(server->running());
  EXPECT_EQ(server->port(), 0);
  httplib::Client after("127.0.0.1", port);
  after.set_connection_timeout(1);
  EXPECT_FALSE(after.Get("/debug/pprof/")) << "still serving after stop()";
  server->stop();  // idempotent
}

TEST(DebugServer, RestartAfterStop_Works) {
  DebugServer server;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(server.start().ok());
    httplib::Client c("127.0.0.1", server.port());
    auto r = c.Get("/metrics");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    server.stop();
  }
}

TEST(DebugServer, StartTwice_IsAnError) {
  auto server = start_server();
  ASSERT_NE(server, nullptr);
  const absl::Status st = server->start();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
}

TEST(DebugServer, NonLoopbackWithoutToken_RefusesToStart) {
  Options o;
  o.address = "0.0.0.0";
  DebugServer server(o);
  const absl::Status st = server.start();
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(std::string(st.message()).find("token"), std::string::npos) << st;
  EXPECT_FALSE(server.running());
}

TEST(DebugServer, BadOptions_AreRejectedWithReason) {
  Options a;
  a.port = 70000;
  EXPECT_EQ(DebugServer(a).start().code(), absl::StatusCode::kInvalidArgument);
  Options b;
  b.max_concurrency = 0;
  EXPECT_EQ(DebugServer(b).start().code(), absl::StatusCode::kInvalidArgument);
  Options c;
  c.require_token = true;
  EXPECT_EQ(DebugServer(c).start().code(), absl::StatusCode::kInvalidArgument);
  Options d;
  d.address = "not an address";
  d.token = "t";
  EXPECT_FALSE(DebugServer(d).start().ok());
}

TEST(DebugServer, PortInUse_IsAnError) {
  auto first = start_server();
  ASSERT_NE(first, nullptr);
  Options o;
  o.port = first->port();
  DebugServer second(o);
  const absl::Status st = second.start();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(std::string(st.message()).find(std::to_string(o.port)), std::string::npos) << st;
}

TEST(ListenAddress, Parse_AcceptsHostPortForms) {
  Options o;
  ASSERT_TRUE(parse_listen_address("127.0.0.1:6060", &o).ok());
  EXPECT_EQ(o.address, "127.0.0.1");
  EXPECT_EQ(o.port, 6060);
  ASSERT_TRUE(parse_listen_address(":0", &o).ok());
  EXPECT_EQ(o.address, "127.0.0.1");
  EXPECT_EQ(o.port, 0);
  ASSERT_TRUE(parse_listen_address("[::1]:7070", &o).ok());
  EXPECT_EQ(o.address, "::1");
  for (const char* bad : {"", "6060", "host:", "h:-1", "h:65536", "h:12x", "h: 1"}) {
    EXPECT_FALSE(parse_listen_address(bad, &o).ok()) << bad;
  }
}

TEST(ListenAddress, Loopback_IsAll127Slash8AndV6One) {
  EXPECT_TRUE(is_loopback_address("127.0.0.1"));
  EXPECT_TRUE(is_loopback_address("127.1.2.3"));
  EXPECT_TRUE(is_loopback_address("::1"));
  EXPECT_TRUE(is_loopback_address("localhost"));
  EXPECT_FALSE(is_loopback_address("0.0.0.0"));
  EXPECT_FALSE(is_loopback_address("10.0.0.1"));
  EXPECT_FALSE(is_loopback_address("::"));
  EXPECT_FALSE(is_loopback_address("example.com"));
}

TEST(DebugServer, Cmdline_IsNulSeparatedArgv) {
  auto server = start_server();
  ASSERT_NE(server, nullptr);
  httplib::Client c("127.0.0.1", server->port());
  auto r = c.Get("/debug/pprof/cmdline");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; charset=utf-8");
  std::string want = test_support::read_file("/proc/self/cmdline");
  while (!want.empty() && want.back() == '\0') want.pop_back();
  EXPECT_EQ(r->body, want);
  EXPECT_NE(r->body.find("http_unit_test"), std::string::npos) << r->body;
}

TEST(DebugServer, Symbol_ResolvesOwnFunctionAddress) {
  auto server = start_server();
  ASSERT_NE(server, nullptr);
  httplib::Client c("127.0.0.1", server->port());
  auto get = c.Get("/debug/pprof/symbol");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->body, "num_symbols: 1\n");
  char addr[32];
  std::snprintf(addr, sizeof addr, "%#lx",
                reinterpret_cast<unsigned long>(&std::puts));
  auto post = c.Post("/debug/pprof/symbol", std::string(addr) + "+0x1", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 200);
  // A libc function: found by dladdr and by the prof symbolizer alike.
  EXPECT_NE(post->body.find("puts"), std::string::npos) << post->body;
  EXPECT_EQ(post->body.rfind("num_symbols: 1\n", 0), 0u) << post->body;
  auto bad = c.Post("/debug/pprof/symbol", "0xzz", "text/plain");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

// Endpoints of parts missing from the build answer 501 with the part's
// name; present ones do not.
TEST(DebugServer, EndpointsOfMissingParts_Answer501) {
  auto server = start_server();
  ASSERT_NE(server, nullptr);
  httplib::Client c("127.0.0.1", server->port());
  const internal::PartsPresent parts = internal::parts_present();
  struct Row {
    const char* path;
    bool present;
    const char* part;
  };
  const Row rows[] = {{"/debug/pprof/heap?debug=1", parts.prof, "prof"},
                      {"/debug/pprof/goroutine?debug=1", parts.task, "task"},
                      {"/debug/maps", parts.map, "map"}};
  for (const Row& row : rows) {
    auto r = c.Get(row.path);
    ASSERT_TRUE(r) << row.path;
    if (row.present) {
      EXPECT_NE(r->status, 501) << row.path << ": " << r->body;
    } else {
      EXPECT_EQ(r->status, 501) << row.path;
      EXPECT_NE(r->body.find(row.part), std::string::npos) << r->body;
    }
  }
}

TEST(DebugServer, UnknownProfile_Is404) {
  auto server = start_server();
  ASSERT_NE(server, nullptr);
  httplib::Client c("127.0.0.1", server->port());
  auto r = c.Get("/debug/pprof/nosuchprofile");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->body, "Unknown profile: nosuchprofile\n");
  EXPECT_EQ(r->get_header_value("X-Content-Type-Options"), "nosniff");
}

TEST(DebugServer, Summary_IsJsonWithProcessFigures) {
  auto server = start_server();
  ASSERT_NE(server, nullptr);
  httplib::Client c("127.0.0.1", server->port());
  auto r = c.Get("/debug/api/summary");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_NE(r->body.find("\"resident_bytes\""), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("\"parts\""), std::string::npos) << r->body;
}

}  // namespace
}  // namespace syncscope::http
