// Bounded load: 2 keep-alive clients for 3 seconds on /metrics and the heap
// profile. Asserts no errors and no growth of the process's live heap
// beyond a small bound; prints requests/s and p99 latency (never asserted:
// tests do not judge speed) and writes them to http-load.txt in the build
// directory.
#include <httplib.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "http/sources.h"
#include "http/test_support.h"

namespace syncscope::http {
namespace {

using Clock = std::chrono::steady_clock;

// The process's live heap: the profiler's exact counter when the hooks are
// in, glibc's in-use bytes otherwise.
std::int64_t live_heap_bytes() {
  absl::StatusOr<internal::HeapFigures> h = internal::heap_figures();
  if (h.ok()) return static_cast<std::int64_t>(h->live_bytes);
  return static_cast<std::int64_t>(mallinfo2().uordblks);
}

struct ClientResult {
  std::vector<double> latencies_ms;
  int errors = 0;
};

ClientResult hammer(int port, const std::vector<std::string>& paths, Clock::duration length) {
  ClientResult out;
  httplib::Client c("127.0.0.1", port);
  c.set_keep_alive(true);
  const auto end = Clock::now() + length;
  for (std::size_t i = 0; Clock::now() < end; ++i) {
    const auto t0 = Clock::now();
    auto r = c.Get(paths[i % paths.size()]);
    out.latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!r || r->status != 200) ++out.errors;
  }
  return out;
}

TEST(Load, TwoClients_NoErrorsNoHeapGrowth) {
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  std::vector<std::string> paths = {"/metrics"};
  paths.push_back(internal::parts_present().prof ? "/debug/pprof/heap" : "/debug/api/summary");
  // Warm-up: caches (symbolizer, thread-local buffers) reach steady state.
  hammer(server->port(), paths, std::chrono::milliseconds(500));
  const std::int64_t before = live_heap_bytes();
  const auto t0 = Clock::now();
  ClientResult a, b;
  std::thread ta([&] { a = hammer(server->port(), paths, std::chrono::seconds(3)); });
  std::thread tb([&] { b = hammer(server->port(), paths, std::chrono::seconds(3)); });
  ta.join();
  tb.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::int64_t after = live_heap_bytes();

  std::vector<double> all = a.latencies_ms;
  all.insert(all.end(), b.latencies_ms.begin(), b.latencies_ms.end());
  ASSERT_FALSE(all.empty());
  std::sort(all.begin(), all.end());
  const double p50 = all[all.size() / 2];
  const double p99 = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  char line[256];
  std::snprintf(line, sizeof line,
                "load: 2 clients x 3 s on %s + %s: %zu requests, %.0f req/s, p50 %.2f ms, "
                "p99 %.2f ms, errors %d, live heap %+lld bytes\n",
                paths[0].c_str(), paths[1].c_str(), all.size(), all.size() / secs, p50, p99,
                a.errors + b.errors, static_cast<long long>(after - before));
  std::fputs(line, stdout);
  if (const char* bin = std::getenv("SYNCSCOPE_BINARY_DIR")) {
    std::ofstream(std::string(bin) + "/http-load.txt") << line;
  }
  EXPECT_EQ(a.errors + b.errors, 0);
  // Responses are built per request and freed; anything the server keeps
  // per request would show as growth proportional to the request count.
  EXPECT_LT(after - before, 2 << 20) << line;
}

}  // namespace
}  // namespace syncscope::http
