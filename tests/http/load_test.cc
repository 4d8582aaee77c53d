// Bounded load: 2 keep-alive clients, two windows of 3 seconds, on /metrics
// and the heap profile. Asserts no errors and no growth of the process's live heap
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

struct Window {
  std::vector<double> latencies_ms;  // sorted
  int errors = 0;
  double seconds = 0;
  std::int64_t heap_growth = 0;      // live heap after - before
};

// Two clients for `length`, with the live heap measured around it.
Window run_window(int port, const std::vector<std::string>& paths, Clock::duration length) {
  Window w;
  const std::int64_t before = live_heap_bytes();
  const auto t0 = Clock::now();
  ClientResult a, b;
  std::thread ta([&] { a = hammer(port, paths, length); });
  std::thread tb([&] { b = hammer(port, paths, length); });
  ta.join();
  tb.join();
  w.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  w.heap_growth = live_heap_bytes() - before;
  w.latencies_ms = a.latencies_ms;
  w.latencies_ms.insert(w.latencies_ms.end(), b.latencies_ms.begin(), b.latencies_ms.end());
  std::sort(w.latencies_ms.begin(), w.latencies_ms.end());
  w.errors = a.errors + b.errors;
  return w;
}

std::string describe(const char* label, const Window& w) {
  const auto& l = w.latencies_ms;
  const double p50 = l.empty() ? 0 : l[l.size() / 2];
  const double p99 = l.empty() ? 0 : l[std::min(l.size() - 1, l.size() * 99 / 100)];
  char line[256];
  std::snprintf(line, sizeof line,
                "%s: %zu requests in %.1f s, %.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d, "
                "live heap %+lld bytes\n",
                label, l.size(), w.seconds, l.size() / w.seconds, p50, p99, w.errors,
                static_cast<long long>(w.heap_growth));
  return line;
}

// Window 1 includes one-time growth (symbolizer tables, profiler stack
// table, thread-local buffers of the workers); window 2 must show none.
TEST(Load, TwoClients_NoErrorsNoHeapGrowth) {
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  std::vector<std::string> paths = {"/metrics"};
  paths.push_back(internal::parts_present().prof ? "/debug/pprof/heap" : "/debug/api/summary");
  const Window first = run_window(server->port(), paths, std::chrono::seconds(3));
  const Window second = run_window(server->port(), paths, std::chrono::seconds(3));
  const std::string report = "load: 2 keep-alive clients on " + paths[0] + " + " + paths[1] +
                             "\n" + describe("  window 1 (warm-up)", first) +
                             describe("  window 2 (steady)", second);
  std::fputs(report.c_str(), stdout);
  if (const char* bin = std::getenv("SYNCSCOPE_BINARY_DIR")) {
    std::ofstream(std::string(bin) + "/http-load.txt") << report;
  }
  EXPECT_FALSE(second.latencies_ms.empty());
  EXPECT_EQ(first.errors + second.errors, 0) << report;
  // Anything kept per request would grow with the request count (hundreds
  // of requests here); 512 KiB allows for sampling noise, not for a leak.
  EXPECT_LT(second.heap_growth, 512 << 10) << report;
}

}  // namespace
}  // namespace syncscope::http
