// The http tests' one helper of their own: a started DebugServer. The
// general helpers (scratch directories, child processes, ports) are in
// tests/support/.
#pragma once

#include <memory>

#include "support/child_process.h"
#include "support/scratch_dir.h"
#include "syncscope/http/debug_server.h"

namespace syncscope::http::testing {

// Starts a DebugServer on 127.0.0.1 with an ephemeral port; fails the
// current test (EXPECT) and returns null if it cannot.
std::unique_ptr<DebugServer> start_server(Options options = {});

}  // namespace syncscope::http::testing
