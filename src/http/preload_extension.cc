// SYNCSCOPE_HTTP inside an unmodified program: the preload object
// (libsyncscope_preload.so) calls syncscope_preload_start_extensions() once
// its heap profiler runs (see syncscope/prof/preload_hooks.h); this
// definition starts the debug server there.
//
//   SYNCSCOPE_HTTP=127.0.0.1:6060 LD_PRELOAD=build/lib/libsyncscope_preload.so ./app
//   go tool pprof -top http://127.0.0.1:6060/debug/pprof/heap
//
// SYNCSCOPE_HTTP_TOKEN supplies the bearer token (mandatory for a
// non-loopback address). Errors are reported on stderr and never stop the
// program: a profiler must not break the process it observes.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "syncscope/http/debug_server.h"
#include "syncscope/prof/preload_hooks.h"

namespace {

// Leaked on purpose: the server lives until the process exits, and tearing
// it down from a static destructor could race the program's own exit path.
syncscope::http::DebugServer* g_server = nullptr;

void start_from_environment() {
  const char* spec = std::getenv("SYNCSCOPE_HTTP");
  if (spec == nullptr || *spec == '\0') return;
  syncscope::http::Options options;
  if (absl::Status st = syncscope::http::parse_listen_address(spec, &options); !st.ok()) {
    std::fprintf(stderr, "syncscope: SYNCSCOPE_HTTP: %s; debug server not started\n",
                 std::string(st.message()).c_str());
    return;
  }
  if (const char* token = std::getenv("SYNCSCOPE_HTTP_TOKEN")) options.token = token;
  options.start_heap_profiler = false;  // the preload object already configured it
  auto* server = new syncscope::http::DebugServer(options);
  if (absl::Status st = server->start(); !st.ok()) {
    std::fprintf(stderr, "syncscope: debug server not started: %s\n",
                 std::string(st.message()).c_str());
    delete server;
    return;
  }
  g_server = server;
  std::fprintf(stderr, "syncscope: debug server on %s/debug/pprof/\n", server->url().c_str());
}

}  // namespace

extern "C" void syncscope_preload_start_extensions(void) {
  // Binding and spawning the server's threads takes well under a
  // millisecond, so this runs inline rather than on a helper thread.
  start_from_environment();
}
