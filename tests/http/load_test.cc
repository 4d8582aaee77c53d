// Bounded load: 2 keep-alive clients on /metrics and the heap profile
// (warm-up, then at most three 2-second windows). Asserts no errors and no growth of the process's live heap
// beyond a small bound; prints requests/s and p99 latency (never asserted:
// tests do not judge speed) and writes them to http-load.txt in the build
// directory.
#include <httplib.h>
#include <malloc.h>

#include <algorithm>
#include <cstdint>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "http/sources.h"
#include "http/start_server.h"

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

// Requests `paths` round-robin until `length` passes or `max_requests` are done.
ClientResult hammer(int port, const std::vector<std::string>& paths, Clock::duration length,
                    std::size_t max_requests = SIZE_MAX) {
  ClientResult out;
  httplib::Client c("127.0.0.1", port);
  c.set_keep_alive(true);
  c.set_read_timeout(30);
  const auto end = Clock::now() + length;
  for (std::size_t i = 0; Clock::now() < end && i < max_requests; ++i) {
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

// The first requests grow the heap once (symbolizer tables, the profiler's
// stack table, the workers' thread-local buffers), and on a busy machine
// that can take a while. So: a warm-up of 300 requests per client, then up
// to three 2-second windows; some window must show no growth. A leak of even
// a few KiB per request grows every window and fails.
TEST(Load, TwoClients_NoErrorsNoHeapGrowth) {
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  std::vector<std::string> paths = {"/metrics"};
#ifdef SYNCSCOPE_HTTP_TEST_HAVE_HOOKS
  const bool heap_profile = internal::parts_present().prof;
#else
  const bool heap_profile = false;  // no allocation hooks: the heap profile answers 503
#endif
  paths.push_back(heap_profile ? "/debug/pprof/heap" : "/debug/api/summary");
  int errors = 0;
  {
    ClientResult a, b;
    std::thread ta([&] { a = hammer(server->port(), paths, std::chrono::seconds(20), 300); });
    std::thread tb([&] { b = hammer(server->port(), paths, std::chrono::seconds(20), 300); });
    ta.join();
    tb.join();
    errors += a.errors + b.errors;
  }
  std::string report = "load: 2 keep-alive clients on " + paths[0] + " + " + paths[1] +
                       " (after 2 x 300 warm-up requests)\n";
  bool steady = false;
  for (int i = 1; i <= 3 && !steady; ++i) {
    const Window w = run_window(server->port(), paths, std::chrono::seconds(2));
    report += describe(("  window " + std::to_string(i)).c_str(), w);
    errors += w.errors;
    EXPECT_FALSE(w.latencies_ms.empty());
    // 512 KiB allows for sampling noise and allocator slack, not for a leak.
    steady = w.heap_growth < (512 << 10);
  }
  std::fputs(report.c_str(), stdout);
  std::ofstream(test_support::binary_dir() / "http-load.txt") << report;
  EXPECT_EQ(errors, 0) << report;
  EXPECT_TRUE(steady) << "live heap grew in every window:\n" << report;
}

}  // namespace
}  // namespace syncscope::http
