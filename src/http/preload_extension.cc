// SYNCSCOPE_HTTP inside an unmodified program: the preload object
// (libsyncscope_preload.so) calls syncscope_preload_start_extensions() once
// its heap profiler runs (see syncscope/prof/preload_hooks.h); this
// definition starts the debug server there.
//
//   SYNCSCOPE_HTTP=127.0.0.1:6060 LD_PRELOAD=build/lib/libsyncscope_preload.so ./app
//   go tool pprof -top http://127.0.0.1:6060/debug/pprof/heap
//
// SYNCSCOPE_HTTP_TOKEN supplies the bearer token (mandatory for a
// non-loopback address).
//
// The observed program must not notice us (issue 14):
//   - One process serves. The process that reads SYNCSCOPE_HTTP removes it
//     (and SYNCSCOPE_HTTP_TOKEN) from its own environment, whether or not it
//     could bind, so the children it execs (a shell's commands, a compiler
//     driver's passes) neither compete for the port nor complain about it.
//     SYNCSCOPE_HTTP_INHERIT=1 keeps both variables for children; a child
//     that then finds the port taken stays silent.
//   - At most one line on stderr per process: the URL, or why not started.
//   - Exit never races the server: an atexit handler, registered when the
//     server starts, refuses new requests, closes the port and waits at most
//     kExitDrain for handlers in flight, before the preload object's exit
//     dump and the static destructors of everything loaded before the
//     program. Handlers that outlive the drain keep running on leaked state.
//     Remaining window: a static object constructed lazily *after* the server
//     started (a function-local static first used by the program, or by a
//     handler) is destroyed before this handler runs; the event loop itself
//     touches no C++ static.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "syncscope/http/debug_server.h"
#include "syncscope/prof/preload_hooks.h"

namespace {

// How long the exit path waits for requests in flight. Long requests
// (?seconds=N) are cancelled first, so this only covers one handler's work.
constexpr std::chrono::milliseconds kExitDrain{1000};

// Leaked on purpose: the server lives until the process exits; the atexit
// handler stops it, and nothing ever frees it under a handler.
syncscope::http::DebugServer* g_server = nullptr;

void stop_server_at_exit() {
  if (g_server != nullptr) g_server->stop_within(kExitDrain);
}

// The single stderr line this process may write.
void say(const std::string& line) {
  const std::string text = "syncscope: " + line + "\n";
  ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
}

bool inherit_requested() {
  const char* v = std::getenv("SYNCSCOPE_HTTP_INHERIT");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

void start_from_environment() {
  const char* spec_env = std::getenv("SYNCSCOPE_HTTP");
  if (spec_env == nullptr || *spec_env == '\0') return;
  const std::string spec = spec_env;
  const char* token = std::getenv("SYNCSCOPE_HTTP_TOKEN");
  syncscope::http::Options options;
  if (token != nullptr) options.token = token;
  const bool inherit = inherit_requested();
  if (!inherit) {
    // Runs in the preload constructor, before the program has threads.
    ::unsetenv("SYNCSCOPE_HTTP");
    ::unsetenv("SYNCSCOPE_HTTP_TOKEN");
  }
  if (absl::Status st = syncscope::http::parse_listen_address(spec, &options); !st.ok()) {
    say("SYNCSCOPE_HTTP: " + std::string(st.message()) + "; debug server not started");
    return;
  }
  options.start_heap_profiler = false;  // the preload object already configured it
  auto* server = new syncscope::http::DebugServer(options);
  if (absl::Status st = server->start(); !st.ok()) {
    delete server;
    // With SYNCSCOPE_HTTP_INHERIT the port is normally held by an ancestor.
    if (!(inherit && absl::IsUnavailable(st))) {
      say("debug server not started: " + std::string(st.message()));
    }
    return;
  }
  g_server = server;
  std::atexit(stop_server_at_exit);
  say("debug server on " + server->url() + "/debug/pprof/");
}

}  // namespace

extern "C" void syncscope_preload_start_extensions(void) {
  // Binding and spawning the server's threads takes well under a
  // millisecond, so this runs inline rather than on a helper thread.
  start_from_environment();
}
