// MhdFront: the debug server's network side, on libmicrohttpd (Debian's
// libmicrohttpd-dev). One event-loop thread (epoll) owns every connection;
// it parses, checks and writes, and never runs a handler: complete requests
// are suspended, handed to the BoundedTaskQueue, and resumed with their
// response. A slow or silent client therefore costs one connection slot and
// at most Options::max_header_bytes of memory, never a thread.
//
// Everything below is bounded before the token is checked, and regardless
// of content encoding:
//   request line + headers   Options::max_header_bytes per connection
//                            (libmicrohttpd's per-connection memory pool;
//                            past it: 414 / 431)
//   header count             Options::max_headers (431)
//   body                     Options::max_body_bytes after chunked decoding
//                            (413); Content-Encoding other than identity: 415
//                            (bodies are never inflated)
//   Range                    not implemented: every answer is the full 200
//   connections              Options::max_connections in total and
//                            Options::max_connections_per_client per address
//   slow request heads       closed when the head is not complete within
//                            Options::header_timeout_s (header_deadlines.h)
//   idle connections         closed after Options::idle_timeout_s without a byte
//   handlers                 Options::max_concurrency threads; 4 x that many
//                            waiting; beyond: 503
// Authorization is compared byte-exact (no decoding; an embedded NUL is part
// of the value). libmicrohttpd sends with MSG_NOSIGNAL and leaves the
// process's SIGPIPE disposition alone; it writes nothing to stderr (no
// MHD_USE_ERROR_LOG).
//
// Implementation notes:
//   accept -> [event loop] request line (uri callback: Exchange created)
//          -> headers complete: pre-checks, token, path (answer here on error)
//          -> body chunks appended up to the limit
//          -> suspend; queue job -> [worker] Router::dispatch -> resume
//          -> [event loop] queue the response -> completed callback deletes Exchange
//
// When not to use: not an application server; no TLS.
#pragma once

#include <chrono>
#include <memory>

#include "absl/status/status.h"
#include "http/router.h"
#include "http/server_context.h"

namespace syncscope::http::internal {

class MhdFront {
 public:
  // `ctx` and `router` must outlive this object (or be leaked with it).
  MhdFront(ServerContext& ctx, const Router& router);
  ~MhdFront();  // PRECONDITION: stop_within() returned true, or start() failed/never ran
  MhdFront(const MhdFront&) = delete;
  MhdFront& operator=(const MhdFront&) = delete;

  // Serves on `listen_fd` (bound and listening; ownership passes here, also on error).
  absl::Status start(int listen_fd);

  // Answers every further request (new connections too) with 503, cancels
  // long requests, waits at most `limit` for handlers in flight, then closes
  // the listen socket and every connection and joins the event loop. False
  // when a handler was still running at the deadline: the loop keeps
  // refusing on the still-open port, and this object must then be leaked,
  // not destroyed. Idempotent after a true.
  bool stop_within(std::chrono::milliseconds limit);

  struct Impl;  // public only so the event loop's C callbacks can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace syncscope::http::internal
