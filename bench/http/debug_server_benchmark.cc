// Cost of the debug server's hot endpoints: building the /metrics text and
// the dashboard summary in process, and a full keep-alive HTTP round trip
// of /metrics on 127.0.0.1. Ratios matter, not absolute numbers: the
// in-process rendering is the baseline the round trip is compared with.
#include <benchmark/benchmark.h>
#include <httplib.h>

#include "http/metrics.h"
#include "http/summary.h"
#include "syncscope/http/debug_server.h"

namespace {

void BM_RenderMetrics(benchmark::State& state) {
  syncscope::http::internal::ServerContext ctx;
  for (auto _ : state) benchmark::DoNotOptimize(syncscope::http::internal::render_metrics(ctx));
}
BENCHMARK(BM_RenderMetrics);

void BM_SummaryJson(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(syncscope::http::internal::summary_json(10));
}
BENCHMARK(BM_SummaryJson);

void BM_MetricsRoundTrip(benchmark::State& state) {
  syncscope::http::DebugServer server;
  if (!server.start().ok()) {
    state.SkipWithError("cannot start the debug server");
    return;
  }
  httplib::Client c("127.0.0.1", server.port());
  c.set_keep_alive(true);
  for (auto _ : state) {
    auto r = c.Get("/metrics");
    if (!r || r->status != 200) state.SkipWithError("request failed");
  }
}
BENCHMARK(BM_MetricsRoundTrip)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
