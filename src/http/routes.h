// Route tables of the debug server, one function per group of endpoints.
#pragma once

#include "http/router.h"

#include "http/server_context.h"

namespace syncscope::http::internal {

// /debug/pprof/ index, heap, allocs, goroutine, trace, retained, cmdline, symbol.
void add_pprof_routes(Router& server, ServerContext& ctx);
// /debug/retain, /debug/maps, /debug/api/summary.
void add_debug_routes(Router& server, ServerContext& ctx);
// /metrics.
void add_metrics_route(Router& server, ServerContext& ctx);
// /debug/pprof/profile (CPU), /debug/pprof/goroutineleak (routes_fleet.cc).
void add_fleet_routes(Router& server, ServerContext& ctx);
// /debug/ (the dashboard page).
void add_dashboard_route(Router& server, ServerContext& ctx);

}  // namespace syncscope::http::internal
