#include "http/start_server.h"

#include <gtest/gtest.h>

namespace syncscope::http::testing {

std::unique_ptr<DebugServer> start_server(Options options) {
  auto server = std::make_unique<DebugServer>(std::move(options));
  const absl::Status st = server->start();
  EXPECT_TRUE(st.ok()) << st;
  if (!st.ok()) return nullptr;
  EXPECT_GT(server->port(), 0);
  return server;
}

}  // namespace syncscope::http::testing
