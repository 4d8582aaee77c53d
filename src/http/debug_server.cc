// DebugServer lifecycle: option checks, cpp-httplib setup (bounded worker
// pool, timeouts, size limits), the authentication and path filter that runs
// before routing, and graceful shutdown.
#include "syncscope/http/debug_server.h"

#include <chrono>
#include <mutex>
#include <thread>

#include <httplib.h>
#include <sys/socket.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "http/auth.h"
#include "http/bounded_task_queue.h"
#include "http/responses.h"
#include "http/routes.h"
#include "http/server_context.h"
#include "http/sources.h"

namespace syncscope::http {

using internal::ServerContext;

struct DebugServer::Impl {
  Options options;
  std::mutex mu;                         // serializes start() and stop()
  std::unique_ptr<ServerContext> ctx;    // guarded by mu; non-null while running
  std::unique_ptr<httplib::Server> server;  // guarded by mu
  std::thread listener;                  // runs listen_after_bind(); joined by stop()
  std::atomic<int> port{0};              // bound port; 0 when stopped
};

namespace {

absl::Status check_options(const Options& o) {
  if (o.port < 0 || o.port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port ", o.port, " is outside 0..65535"));
  }
  if (o.max_concurrency < 1 || o.max_concurrency > 256) {
    return absl::InvalidArgumentError("max_concurrency must be in 1..256");
  }
  if (o.max_seconds < 1 || o.max_seconds > 3600) {
    return absl::InvalidArgumentError("max_seconds must be in 1..3600");
  }
  if (o.require_token && o.token.empty()) {
    return absl::InvalidArgumentError("require_token is set but the token is empty");
  }
  if (!is_loopback_address(o.address) && o.token.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "refusing to listen on non-loopback address ", o.address,
        " without a token: profiles expose code and memory layout; set Options::token "
        "(clients send 'Authorization: Bearer <token>')"));
  }
  return absl::OkStatus();
}

// Rejects paths that try to escape (/../), hide (//, backslash) or carry
// control bytes. httplib has already percent-decoded req.path.
bool path_is_sane(const std::string& path) {
  if (path.empty() || path[0] != '/') return false;
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f || c == '\\') return false;
  }
  return !absl::StrContains(path, "/../") && !absl::EndsWith(path, "/..") &&
         !absl::StrContains(path, "/./") && !absl::StrContains(path, "//");
}

void install_filters(httplib::Server& s, ServerContext& ctx) {
  using HR = httplib::Server::HandlerResponse;
  s.set_pre_routing_handler([&ctx](const httplib::Request& req, httplib::Response& res) {
    const Options& o = ctx.options;
    const bool need_token = o.require_token || !o.token.empty();
    if (need_token && !internal::bearer_token_matches(req, o.token)) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"syncscope\"");
      internal::reply_error(res, 401, "unauthorized: send 'Authorization: Bearer <token>'");
      return HR::Handled;
    }
    if (!path_is_sane(req.path)) {
      internal::reply_error(res, 400, "malformed path");
      return HR::Handled;
    }
    return HR::Unhandled;
  });
  s.set_post_routing_handler([](const httplib::Request&, httplib::Response& res) {
    res.set_header("X-Content-Type-Options", "nosniff");
    res.set_header("Cache-Control", "no-store");
  });
  s.set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request& req, httplib::Response& res) -> HR {
    // Called for every status >= 400; only fill in a body where none was set.
    if (!res.body.empty()) return HR::Unhandled;
    const std::string reason = res.status == 404
        ? absl::StrCat("404 page not found: ", req.path)
        : absl::StrCat("HTTP status ", res.status);
    internal::reply_error(res, res.status, reason);
    res.set_header("X-Content-Type-Options", "nosniff");
    return HR::Handled;
  }));
  s.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        internal::reply_error(res, 500, absl::StrCat("internal error: ", what));
      });
  s.set_logger([&ctx](const httplib::Request&, const httplib::Response& res) {
    const int cls = res.status / 100;
    // relaxed: a statistics counter; it publishes nothing.
    if (cls >= 1 && cls <= 5) ctx.counters.by_class[cls].fetch_add(1, std::memory_order_relaxed);
  });
}

void configure_limits(httplib::Server& s, const Options& o) {
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would
  // let a second server silently share (and steal requests from) our port.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  const std::size_t workers = static_cast<std::size_t>(o.max_concurrency);
  s.new_task_queue = [workers] { return new internal::BoundedTaskQueue(workers, 4 * workers); };
  // Headers and body go out in separate writes; with Nagle on, the body
  // waits for the client's delayed ACK (~40 ms per keep-alive request).
  s.set_tcp_nodelay(true);
  s.set_payload_max_length(o.max_body_bytes);
  s.set_read_timeout(5, 0);
  // Long profiles are written after the wait; allow slow readers a while.
  s.set_write_timeout(30, 0);
  // Short keep-alive so stop() does not wait long on idle connections.
  s.set_keep_alive_timeout(2);
  s.set_keep_alive_max_count(100);
}

}  // namespace

DebugServer::DebugServer(Options options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

DebugServer::~DebugServer() { stop(); }

absl::Status DebugServer::start() {
  std::lock_guard lock(impl_->mu);
  if (impl_->server) return absl::FailedPreconditionError("debug server already started");
  if (absl::Status st = check_options(impl_->options); !st.ok()) return st;

  auto ctx = std::make_unique<ServerContext>();
  ctx->options = impl_->options;
  auto server = std::make_unique<httplib::Server>();
  configure_limits(*server, ctx->options);
  install_filters(*server, *ctx);
  internal::add_pprof_routes(*server, *ctx);
  internal::add_debug_routes(*server, *ctx);
  internal::add_metrics_route(*server, *ctx);
  internal::add_dashboard_route(*server, *ctx);

  const Options& o = ctx->options;
  if (o.start_heap_profiler) internal::start_heap_profiler();
  int port = o.port;
  if (port == 0) {
    port = server->bind_to_any_port(o.address);
  } else if (!server->bind_to_port(o.address, port)) {
    port = -1;
  }
  if (port <= 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", o.address, ":", o.port,
                                               " (address invalid or port in use)"));
  }
  httplib::Server* raw = server.get();
  impl_->listener = std::thread([raw] { raw->listen_after_bind(); });
  // The socket is bound and listening already; wait until the accept loop
  // runs so stop() right after start() cannot race it.
  for (int i = 0; i < 5000 && !raw->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!raw->is_running()) {
    raw->stop();
    impl_->listener.join();
    return absl::InternalError("debug server accept loop did not start");
  }
  impl_->ctx = std::move(ctx);
  impl_->server = std::move(server);
  // relaxed: port is a plain value; readers need no other data with it.
  impl_->port.store(port, std::memory_order_relaxed);
  return absl::OkStatus();
}

void DebugServer::stop() {
  std::lock_guard lock(impl_->mu);
  if (!impl_->server) return;
  impl_->ctx->canceller.cancel();  // long requests return early
  impl_->server->stop();           // closes the listening socket
  if (impl_->listener.joinable()) impl_->listener.join();  // joins the workers too
  impl_->server.reset();
  impl_->ctx.reset();
  // relaxed: see start().
  impl_->port.store(0, std::memory_order_relaxed);
}

bool DebugServer::running() const {
  // relaxed: see start().
  return impl_->port.load(std::memory_order_relaxed) != 0;
}

int DebugServer::port() const {
  // relaxed: see start().
  return impl_->port.load(std::memory_order_relaxed);
}

std::string DebugServer::url() const {
  const std::string& a = impl_->options.address;
  const bool v6 = absl::StrContains(a, ':');
  return absl::StrCat("http://", v6 ? "[" : "", a, v6 ? "]" : "", ":", port());
}

}  // namespace syncscope::http
