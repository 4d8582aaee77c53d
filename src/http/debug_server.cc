// DebugServer lifecycle: option checks, the listening socket (close-on-exec,
// no SO_REUSEPORT), the route table and the libmicrohttpd front
// (mhd_front.h), and a bounded shutdown.
#include "syncscope/http/debug_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "http/mhd_front.h"
#include "http/router.h"
#include "http/routes.h"
#include "common/annotated_mutex.h"
#include "http/server_context.h"
#include "http/sources.h"

namespace syncscope::http {

using internal::ServerContext;

struct DebugServer::Impl {
  Options options;
  common::Mutex mu;  // serializes start() and stop()
  // The three below are non-null while running. A stop whose drain timed
  // out leaks them: detached handlers still use them.
  std::unique_ptr<ServerContext> ctx ABSL_GUARDED_BY(mu);
  std::unique_ptr<internal::Router> router ABSL_GUARDED_BY(mu);
  std::unique_ptr<internal::MhdFront> front ABSL_GUARDED_BY(mu);
  std::atomic<int> port{0};                // bound port; 0 when stopped
  pid_t owner_pid ABSL_GUARDED_BY(mu) = 0;  // the process whose threads serve
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
  if (o.max_header_bytes < 4096 || o.max_header_bytes > (1 << 20)) {
    return absl::InvalidArgumentError("max_header_bytes must be in 4096..1048576");
  }
  if (o.max_headers < 8 || o.max_connections < 1 || o.max_connections_per_client < 1 ||
      o.idle_timeout_s < 1 || o.header_timeout_s < 1) {
    return absl::InvalidArgumentError(
        "max_headers must be >= 8; max_connections, max_connections_per_client, "
        "idle_timeout_s and header_timeout_s must be >= 1");
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

// A listening TCP socket on address:port (close-on-exec, so exec'd children
// never hold the port), or an error. *bound_port receives the port.
absl::StatusOr<int> listen_on(const std::string& address, int port, int* bound_port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  const std::string host = address == "localhost" ? "127.0.0.1" : address;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    len = sizeof *v6;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot listen on ", address, ": not a numeric IPv4/IPv6 address"));
  }
  const int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return absl::UnavailableError(absl::StrCat("socket: ", std::strerror(errno)));
  // SO_REUSEADDR only: SO_REUSEPORT would let a second server silently
  // share (and steal requests from) our port.
  int yes = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd, 64) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address, ":", port, " (",
                                               std::strerror(err), ")"));
  }
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    ::close(fd);
    return absl::UnavailableError("getsockname failed");
  }
  *bound_port = ntohs(ss.ss_family == AF_INET ? v4->sin_port : v6->sin6_port);
  return fd;
}

}  // namespace

DebugServer::DebugServer(Options options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

DebugServer::~DebugServer() { stop(); }

absl::Status DebugServer::start() {
  common::MutexLock lock(impl_->mu);
  if (impl_->front) return absl::FailedPreconditionError("debug server already started");
  if (absl::Status st = check_options(impl_->options); !st.ok()) return st;

  auto ctx = std::make_unique<ServerContext>();
  ctx->options = impl_->options;
  auto router = std::make_unique<internal::Router>();
  internal::add_pprof_routes(*router, *ctx);
  internal::add_fleet_routes(*router, *ctx);
  internal::add_debug_routes(*router, *ctx);
  internal::add_metrics_route(*router, *ctx);
  internal::add_dashboard_route(*router, *ctx);

  int port = 0;
  absl::StatusOr<int> fd = listen_on(ctx->options.address, ctx->options.port, &port);
  if (!fd.ok()) return fd.status();
  if (ctx->options.start_heap_profiler) internal::start_heap_profiler();
  auto front = std::make_unique<internal::MhdFront>(*ctx, *router);
  if (absl::Status st = front->start(*fd); !st.ok()) return st;
  impl_->ctx = std::move(ctx);
  impl_->router = std::move(router);
  impl_->front = std::move(front);
  impl_->owner_pid = ::getpid();
  // relaxed: port is a plain value; readers need no other data with it.
  impl_->port.store(port, std::memory_order_relaxed);
  return absl::OkStatus();
}

bool DebugServer::stop_within(std::chrono::milliseconds limit) {
  common::MutexLock lock(impl_->mu);
  if (!impl_->front) return true;
  // relaxed: see start().
  impl_->port.store(0, std::memory_order_relaxed);
  if (::getpid() != impl_->owner_pid) {
    // A fork()ed child: the serving threads stayed in the parent, so there
    // is nothing to drain or join here, and the parent's state must not be
    // torn down under it (it shares nothing with us but the bytes).
    (void)impl_->front.release();
    (void)impl_->router.release();
    (void)impl_->ctx.release();
    return true;
  }
  if (!impl_->front->stop_within(limit)) {
    // Handlers still run on detached workers: leak what they use.
    (void)impl_->front.release();
    (void)impl_->router.release();
    (void)impl_->ctx.release();
    return false;
  }
  impl_->front.reset();
  impl_->router.reset();
  impl_->ctx.reset();
  return true;
}

void DebugServer::stop() {
  // Long requests are cancelled, so handlers end within about a second; the
  // bound only keeps a wedged handler from hanging the caller forever.
  stop_within(std::chrono::seconds(impl_->options.max_seconds + 30));
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
