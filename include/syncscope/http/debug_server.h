// DebugServer: the embedded debug server, the C++ counterpart of Go's
// net/http/pprof plus expvar. One object, started with one line, serves:
//
//   /debug/pprof/            HTML index (Go's paths and parameters)
//   /debug/pprof/heap        heap profile (pprof; debug=1 text; seconds=N delta)
//   /debug/pprof/allocs      same data, alloc_space as the default sample type
//   /debug/pprof/goroutine   tasks and threads (debug=0 pprof, 1 aggregated, 2 full)
//   /debug/pprof/trace       Chrome trace-event JSON for ?seconds=N (not Go's format)
//   /debug/pprof/retained    retention profile (pprof): who holds memory
//   /debug/pprof/cmdline     the process's command line
//   /debug/pprof/symbol      pc -> function name (Go's symbol protocol)
//   /debug/retain            retention paths for ?site= or ?addr= (JSON or text)
//   /debug/maps              stats of every registered map (JSON or text)
//   /debug/                  live dashboard (self-contained HTML)
//   /debug/api/summary       the JSON the dashboard polls
//   /metrics                 Prometheus text exposition format
//
// Endpoints whose part (prof, task, retain, map) was not linked into this
// build answer 501 with a one-line reason. docs/http.md lists every endpoint.
//
// Security: binds 127.0.0.1 by default. Binding any non-loopback address
// requires a bearer token (compared in constant time); start() refuses
// otherwise. Malformed parameters get 400 with a one-line reason; long
// requests (?seconds=N) are bounded by Options::max_seconds and end early when
// the server stops.
//
// Hostile clients: one event-loop thread (libmicrohttpd, epoll) holds every
// connection, so slow or idle clients cost a bounded slot, never a worker;
// request line, headers, header count, time to send the head, body (after
// chunked decoding; encoded bodies are refused), connections and idle time
// are bounded by the Options
// below before the token is checked; Range is not implemented (full answers
// only); the token is compared byte-exact. The server never changes the
// process's signal dispositions and never writes to stderr.
//
// Thread safety: start(), stop(), stop_within() and the destructor must not
// race each other; port() and running() may be called from any thread.
// Handlers run on the server's own worker threads (Options::max_concurrency
// of them); the event loop is one more thread.
//
// When not to use: this is a diagnosis port, not an application server. Keep
// it on loopback (or behind an authenticating proxy); profiles reveal code
// layout, symbol names and memory contents' shape.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"

namespace syncscope::http {

struct Options {
  // Address to bind. Anything outside 127.0.0.0/8 and ::1 needs `token`.
  std::string address = "127.0.0.1";
  // TCP port; 0 picks a free ephemeral port (read it back with port()).
  int port = 0;
  // Bearer token clients must send as "Authorization: Bearer <token>".
  // Empty = no authentication, allowed only on a loopback address.
  std::string token;
  // Require the token even on loopback (for tests, and for hosts where other
  // local users are not trusted). Needs a non-empty token.
  bool require_token = false;
  // Worker threads = handlers run at once. Up to 4 x this complete requests
  // wait for a worker; beyond that a request gets 503 at once.
  int max_concurrency = 4;
  // Request line plus all header bytes of one request (libmicrohttpd's
  // per-connection memory pool; 414/431 past it). 4096..1048576.
  std::size_t max_header_bytes = 16 * 1024;
  // Header fields per request (431 past it).
  int max_headers = 64;
  // Open connections in total, and from one client address. On loopback
  // every local client shares 127.0.0.1, so keep the per-client limit below
  // the total: one local client can then never take every slot.
  int max_connections = 32;
  int max_connections_per_client = 16;
  // A connection that sends or accepts no byte for this long is closed
  // (idle keep-alive, slow headers, slow body, stalled reader).
  int idle_timeout_s = 10;
  // The request line and every header must arrive within this long of the
  // connection opening (or of the previous answer on a kept-alive
  // connection), however steadily the bytes trickle in (slowloris).
  int header_timeout_s = 10;
  // Upper bound for ?seconds=N (delta heap profiles, traces). Larger -> 400.
  int max_seconds = 60;
  // Largest request body accepted, counted after chunked decoding (only
  // /debug/pprof/symbol takes a body); 413 past it.
  std::size_t max_body_bytes = 64 * 1024;
  // Start heap sampling (prof::HeapProfiler::start) when the server starts,
  // so /debug/pprof/heap has data as in Go, where sampling is always on.
  // No effect when the prof part or its hooks are absent.
  bool start_heap_profiler = true;
};

class DebugServer {
 public:
  explicit DebugServer(Options options = {});
  ~DebugServer();  // stop()s
  DebugServer(const DebugServer&) = delete;
  DebugServer& operator=(const DebugServer&) = delete;

  // Validates the options, binds the socket and starts serving on a
  // background thread. Returns once the socket accepts connections, or an
  // error naming the reason (bad address, port in use, token missing for a
  // non-loopback address, already started).
  absl::Status start();

  // Graceful shutdown: stops accepting, cancels long requests (seconds=N),
  // lets in-flight requests finish, joins every thread. Idempotent.
  void stop();

  // stop() that waits at most `limit` for handlers in flight (for exit
  // paths). Requests arriving meanwhile get 503. Returns false when a handler
  // was still running at the deadline: its thread stays detached, the
  // server's state is leaked (never freed under it), and the event loop
  // keeps refusing until the process ends. In a fork()ed child of the
  // process that started the server (whose threads stayed in the parent) it
  // returns true at once and only forgets the server.
  bool stop_within(std::chrono::milliseconds limit);

  bool running() const;
  // The bound port (meaningful after a successful start()); 0 otherwise.
  int port() const;
  // "http://<address>:<port>" of the running server.
  std::string url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Parses "host:port" (also "[v6]:port" and ":port" = 127.0.0.1) as accepted
// by SYNCSCOPE_HTTP. Fills address and port of *options.
absl::Status parse_listen_address(const std::string& spec, Options* options);

// True when `address` is a loopback address (127.0.0.0/8, ::1, "localhost").
bool is_loopback_address(const std::string& address);

}  // namespace syncscope::http
