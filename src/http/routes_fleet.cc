// The /debug/pprof paths a fleet scraper (Parca, Grafana Alloy) pulls besides
// heap and goroutine: /debug/pprof/profile (CPU), /debug/pprof/mutex,
// /debug/pprof/block and /debug/pprof/goroutineleak.
//
// /debug/pprof/mutex, /debug/pprof/block: Go's contention profiles
//   (debug=0 pprof, debug=1 text, seconds=N delta), empty until
//   prof::set_mutex_profile_fraction / set_block_profile_rate (or
//   SYNCSCOPE_MUTEX_PROFILE_FRACTION / SYNCSCOPE_BLOCK_PROFILE_RATE) turn
//   recording on, as in Go.
//
// /debug/pprof/profile?seconds=N&hz=H
//   seconds: default 30 (Go's; max_seconds when that is lower),
//   1..Options::max_seconds (400 beyond: Go
//   refuses a duration past its server's WriteTimeout the same way);
//   hz: default 100, 1..1000. The answer is a gzipped pprof CPU profile named
//   "profile" (Go's Content-Disposition). One at a time: a second request
//   gets Go's 500 "Could not enable CPU profiling: cpu profiling already in
//   use"; a program with its own SIGPROF handler or ITIMER_PROF gets a 409
//   and is left alone.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "http/params.h"
#include "http/profile_reply.h"
#include "http/responses.h"
#include "http/routes.h"
#include "http/sources_fleet.h"

namespace syncscope::http::internal {
namespace {

constexpr int kDefaultCpuSeconds = 30;  // Go's default
constexpr int kDefaultHz = 100;
constexpr int kMaxHz = 1000;

void cpu_profile_route(const Request& req, Response& res, ServerContext& ctx) {
  if (req.has_param("debug")) return reply_error(res, 400, "profile does not take debug");
  const int max_seconds = ctx.options.max_seconds;
  absl::StatusOr<std::optional<std::int64_t>> seconds = int_param(req, "seconds", 1, max_seconds);
  if (!seconds.ok()) {
    return reply_error(res, 400, absl::StrCat(seconds.status().message(),
                                              " (the server's limit is max_seconds=", max_seconds, ")"));
  }
  absl::StatusOr<std::optional<std::int64_t>> hz = int_param(req, "hz", 1, kMaxHz);
  if (!hz.ok()) return reply_status(res, hz.status());
  LongRequestSlot slot(ctx);
  if (!slot.ok()) return reply_error(res, 503, "too many long-running requests; retry later");
  const int secs = static_cast<int>(seconds->value_or(std::min(kDefaultCpuSeconds, max_seconds)));
  CpuProfileOutcome out = cpu_profile(secs, static_cast<int>(hz->value_or(kDefaultHz)), ctx.canceller);
  if (out.status != 200) return reply_error(res, out.status, out.reason);
  reply_profile(res, std::move(out.profile), "profile", /*delta=*/false);
}

Handler contention_route(ServerContext& ctx, Contention kind, const char* name) {
  return [&ctx, kind, name](const Request& req, Response& res) {
    absl::StatusOr<ProfileParams> p = profile_params(req, 1, ctx.options.max_seconds);
    if (!p.ok()) return reply_status(res, p.status());
    reply_pprof(
        res, ctx, *p, name, [kind](int debug) { return contention_profile(kind, debug); },
        [kind](int seconds, const Canceller& c) { return contention_delta_profile(kind, seconds, c); });
  };
}

void goroutineleak_route(const Request& req, Response& res, ServerContext& ctx) {
  absl::StatusOr<ProfileParams> p = profile_params(req, 2, ctx.options.max_seconds);
  if (!p.ok()) return reply_status(res, p.status());
  reply_pprof(res, *p, "goroutineleak", goroutineleak_profile);
}

}  // namespace

void add_fleet_routes(Router& s, ServerContext& ctx) {
  s.Get("/debug/pprof/profile",
        [&ctx](const Request& q, Response& r) { cpu_profile_route(q, r, ctx); });
  s.Get("/debug/pprof/mutex", contention_route(ctx, Contention::kMutex, "mutex"));
  s.Get("/debug/pprof/block", contention_route(ctx, Contention::kBlock, "block"));
  connect_lock_contention();
  s.Get("/debug/pprof/goroutineleak",
        [&ctx](const Request& q, Response& r) { goroutineleak_route(q, r, ctx); });
}

}  // namespace syncscope::http::internal
