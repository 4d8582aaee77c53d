// The /metrics exposition: process, heap, task, map and server metrics in
// the Prometheus text format. Parts missing from the build contribute no
// series (their absence is visible in syncscope_build_info's labels).
#pragma once

#include <string>

#include "http/server_context.h"

namespace syncscope::http::internal {

std::string render_metrics(const ServerContext& ctx);

}  // namespace syncscope::http::internal
