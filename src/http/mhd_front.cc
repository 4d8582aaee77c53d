#include "http/mhd_front.h"

#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "http/auth.h"
#include "http/bounded_task_queue.h"
#include "http/fork_participants.h"
#include "http/header_deadlines.h"
#include "http/responses.h"

namespace syncscope::http::internal {

// One request on one connection, from its request line to its completion.
// Created by the event loop (uri callback), touched by one worker between
// suspend and resume, deleted by the event loop (completed callback).
struct Exchange {
  MhdFront::Impl* front = nullptr;
  MHD_Connection* connection = nullptr;
  Request request;         // target set on the request line; the rest once headers are in
  Response response;       // filled by a worker (or by a pre-check on the loop)
  bool checked = false;    // pre-checks ran (first access-handler call)
  bool body_too_large = false;
  bool ready = false;      // response is final; written before MHD_resume_connection,
                           // read by the loop after it (MHD's resume mutex orders them)
};

struct MhdFront::Impl final : ForkParticipant {
  ServerContext& ctx;
  const Router& router;
  MHD_Daemon* daemon = nullptr;            // non-null between start() and a successful stop
  MHD_Response* refusal = nullptr;         // static 503 for the stopping phase
  std::unique_ptr<BoundedTaskQueue> workers;
  std::unique_ptr<HeaderDeadlines> deadlines;  // one entry per open connection
  // Set once by stop_within() (never reset); read by the loop for every
  // request, which then answers with `refusal` alone.
  std::atomic<bool> refusing{false};
  bool stopped = false;                    // stop_within() returned true
  // Set by start() before this registers for fork(); constant while registered.
  int listen_fd = -1;
  int epoll_fd = -1;

  Impl(ServerContext& c, const Router& r) : ctx(c), router(r) {}

  // A fork()ed child keeps no copy of the port, the epoll set or a client's
  // connection (see fork_participants.h). The deadlines' lock is held from
  // before_fork() to an after_fork_*(), across functions, where the
  // thread-safety analysis cannot follow it.
  void before_fork() override ABSL_NO_THREAD_SAFETY_ANALYSIS { deadlines->lock_for_fork(); }
  void after_fork_in_parent() override ABSL_NO_THREAD_SAFETY_ANALYSIS { deadlines->unlock_after_fork(); }
  void after_fork_in_child() override ABSL_NO_THREAD_SAFETY_ANALYSIS {
    ::close(listen_fd);
    if (epoll_fd >= 0) ::close(epoll_fd);
    deadlines->close_fds_in_child_locked();
    deadlines->unlock_after_fork();
  }
};

namespace {

constexpr char kRefusal[] = "debug server is stopping\n";
// Longest request target (path and query) answered; every endpoint's real
// query fits in a few hundred bytes.
constexpr std::size_t kMaxTargetBytes = 8192;

void count_status(ServerContext& ctx, int status) {
  const int cls = status / 100;
  // relaxed: a statistics counter; it publishes nothing.
  if (cls >= 1 && cls <= 5) ctx.counters.by_class[cls].fetch_add(1, std::memory_order_relaxed);
}

void free_body(void* body) { delete static_cast<std::string*>(body); }

MHD_Result queue(Exchange& x) {
  Response& res = x.response;
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Cache-Control", "no-store");
  auto* body = new std::string(std::move(res.body));
  MHD_Response* r = MHD_create_response_from_buffer_with_free_callback_cls(
      body->size(), body->data(), free_body, body);
  if (r == nullptr) {
    delete body;
    return MHD_NO;
  }
  for (const auto& [k, v] : res.headers) MHD_add_response_header(r, k.c_str(), v.c_str());
  count_status(x.front->ctx, res.status);
  const MHD_Result ok = MHD_queue_response(x.connection, static_cast<unsigned>(res.status), r);
  MHD_destroy_response(r);
  return ok;
}

// True when libmicrohttpd cut a header value at a NUL byte the client sent.
// HAZARD (issue 14): libmicrohttpd 0.9.75 (Debian 12) measures values with
// strlen, so "Bearer <token>\0junk" arrives as "Bearer <token>". It parses
// the head in place, so the bytes after the value are still in its read
// buffer: the value's terminator, then the rest of the line up to the line
// end, which it overwrote with NUL (or left as CR/LF). Any other byte there
// means the value went on past a NUL. A client that ends lines with a bare
// LF looks the same when another header follows, so such a client's
// Authorization is refused unless it is the last header; every common
// client sends CRLF. libmicrohttpd 1.0 refuses NULs in headers itself.
bool value_was_cut_at_nul(const char* value, size_t value_size) {
  const char next = value[value_size + 1];  // in the read buffer: see above
  return next != '\0' && next != '\r' && next != '\n';
}

struct HeaderSink {
  Request* request;
  bool authorization_cut = false;  // an Authorization value went on past a NUL
};

MHD_Result collect_header(void* cls, MHD_ValueKind, const char* key, size_t key_size,
                          const char* value, size_t value_size) {
  auto* sink = static_cast<HeaderSink*>(cls);
  const std::string name(key, key_size);
  if (value != nullptr && absl::EqualsIgnoreCase(name, "Authorization") &&
      value_was_cut_at_nul(value, value_size)) {
    sink->authorization_cut = true;
  }
  sink->request->headers.emplace(name, value ? std::string(value, value_size) : std::string());
  return MHD_YES;
}

MHD_Result collect_param(void* cls, MHD_ValueKind, const char* key, size_t key_size,
                         const char* value, size_t value_size) {
  auto* req = static_cast<Request*>(cls);
  req->params.emplace(std::string(key, key_size),
                      value ? std::string(value, value_size) : std::string());
  return MHD_YES;
}

// Rejects paths that try to escape (/../), hide (//, backslash) or carry
// control bytes; `raw` is the target as sent (an encoded NUL would cut the
// decoded path short).
bool path_is_sane(const std::string& path, const std::string& raw) {
  if (path.empty() || path[0] != '/') return false;
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f || c == '\\') return false;
  }
  if (absl::StrContains(raw, "%00")) return false;
  return !absl::StrContains(path, "/../") && !absl::EndsWith(path, "/..") &&
         !absl::StrContains(path, "/./") && !absl::StrContains(path, "//");
}

// Checks run once the headers are in, before any body byte is read and
// before the token. Fills x.response and returns false to answer at once.
bool pre_checks(Exchange& x, const char* url, const char* method) {
  const Options& o = x.front->ctx.options;
  Request& req = x.request;
  Response& res = x.response;
  req.method = method;
  req.path = url;
  if (req.target.size() > kMaxTargetBytes) {
    reply_error(res, 414, absl::StrCat("request target over ", kMaxTargetBytes, " bytes"));
    return false;
  }
  HeaderSink sink{&req};
  const int n_headers =
      MHD_get_connection_values_n(x.connection, MHD_HEADER_KIND, collect_header, &sink);
  if (n_headers > o.max_headers) {
    reply_error(res, 431, absl::StrCat("more than ", o.max_headers, " header fields"));
    return false;
  }
  if (req.method != "GET" && req.method != "HEAD" && req.method != "POST") {
    res.set_header("Allow", "GET, HEAD, POST");
    reply_error(res, 405, "method not allowed");
    return false;
  }
  const std::string encoding = req.get_header_value("Content-Encoding");
  if (!encoding.empty() && !absl::EqualsIgnoreCase(encoding, "identity")) {
    reply_error(res, 415, "request bodies must not be encoded (Content-Encoding: identity only)");
    return false;
  }
  if (const std::string len = req.get_header_value("Content-Length"); !len.empty()) {
    std::uint64_t n = 0;
    if (!absl::SimpleAtoi(len, &n) || n > o.max_body_bytes) {
      reply_error(res, 413, absl::StrCat("request body over ", o.max_body_bytes, " bytes"));
      return false;
    }
  }
  const bool need_token = o.require_token || !o.token.empty();
  if (need_token && (sink.authorization_cut || !bearer_token_matches(req, o.token))) {
    res.set_header("WWW-Authenticate", "Bearer realm=\"syncscope\"");
    reply_error(res, 401, "unauthorized: send 'Authorization: Bearer <token>'");
    return false;
  }
  if (!path_is_sane(req.path, req.target)) {
    reply_error(res, 400, "malformed path");
    return false;
  }
  MHD_get_connection_values_n(x.connection, MHD_GET_ARGUMENT_KIND, collect_param, &req);
  return true;
}

void* on_request_line(void* cls, const char* uri, MHD_Connection* connection) {
  auto* x = new Exchange;
  x->front = static_cast<MhdFront::Impl*>(cls);
  x->connection = connection;
  x->request.target = uri;
  return x;
}

HeaderDeadlines::Entry* deadline_of(MHD_Connection* connection) {
  const MHD_ConnectionInfo* ci =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci == nullptr ? nullptr : static_cast<HeaderDeadlines::Entry*>(ci->socket_context);
}

void on_connection(void* cls, MHD_Connection* connection, void** socket_context,
                   MHD_ConnectionNotificationCode code) {
  auto* front = static_cast<MhdFront::Impl*>(cls);
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    const MHD_ConnectionInfo* ci =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci != nullptr) *socket_context = front->deadlines->add(ci->connect_fd);
  } else if (*socket_context != nullptr) {  // CLOSED: comes before the fd is closed
    front->deadlines->remove(static_cast<HeaderDeadlines::Entry*>(*socket_context));
    *socket_context = nullptr;
  }
}

void on_completed(void* cls, MHD_Connection* connection, void** con_cls,
                  MHD_RequestTerminationCode code) {
  delete static_cast<Exchange*>(*con_cls);
  *con_cls = nullptr;
  // The connection stays open for the next request: its head is due anew.
  auto* front = static_cast<MhdFront::Impl*>(cls);
  if (code == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
    if (HeaderDeadlines::Entry* e = deadline_of(connection)) front->deadlines->arm(e);
  }
}

void run_on_worker(Exchange* x) {
  x->front->router.dispatch(x->request, x->response);
  x->ready = true;
  MHD_resume_connection(x->connection);  // orders `ready` before the loop's next look
}

MHD_Result on_access(void* cls, MHD_Connection* connection, const char* url, const char* method,
                     const char*, const char* upload_data, size_t* upload_data_size,
                     void** con_cls) {
  auto* front = static_cast<MhdFront::Impl*>(cls);
  // relaxed: a stop request that publishes no data; a request that misses
  // it is drained like any other. This branch touches no C++ state but the prebuilt
  // refusal, so it is safe while the process exits.
  if (front->refusing.load(std::memory_order_relaxed)) {
    return MHD_queue_response(connection, MHD_HTTP_SERVICE_UNAVAILABLE, front->refusal);
  }
  auto* x = static_cast<Exchange*>(*con_cls);
  if (x == nullptr) return MHD_NO;  // no request line seen: cannot happen
  if (!x->checked) {
    x->checked = true;  // the whole head is in
    if (HeaderDeadlines::Entry* e = deadline_of(connection)) front->deadlines->disarm(e);
    if (!pre_checks(*x, url, method)) return queue(*x);
    return MHD_YES;  // body (if any) follows
  }
  if (*upload_data_size != 0) {
    const std::size_t room = front->ctx.options.max_body_bytes - x->request.body.size();
    if (*upload_data_size > room) x->body_too_large = true;
    if (!x->body_too_large) x->request.body.append(upload_data, *upload_data_size);
    *upload_data_size = 0;  // consumed (or dropped)
    return MHD_YES;
  }
  if (x->ready) return queue(*x);
  if (x->body_too_large) {
    reply_error(x->response, 413,
                absl::StrCat("request body over ", front->ctx.options.max_body_bytes, " bytes"));
    return queue(*x);
  }
  MHD_suspend_connection(connection);
  if (!front->workers->try_enqueue([x] { run_on_worker(x); })) {
    reply_error(x->response, 503, "debug server busy; retry later");
    x->ready = true;
    MHD_resume_connection(connection);
  }
  return MHD_YES;
}

}  // namespace

MhdFront::MhdFront(ServerContext& ctx, const Router& router)
    : impl_(std::make_unique<Impl>(ctx, router)) {}

MhdFront::~MhdFront() {
  if (impl_->refusal != nullptr) MHD_destroy_response(impl_->refusal);
}

absl::Status MhdFront::start(int listen_fd) {
  const Options& o = impl_->ctx.options;
  impl_->refusal = MHD_create_response_from_buffer(
      sizeof kRefusal - 1, const_cast<char*>(kRefusal), MHD_RESPMEM_PERSISTENT);
  if (impl_->refusal == nullptr ||
      MHD_add_response_header(impl_->refusal, "Connection", "close") != MHD_YES) {
    ::close(listen_fd);
    return absl::ResourceExhaustedError("cannot allocate the debug server's responses");
  }
  // The server's threads take no asynchronous signals: the program's
  // handlers (and its EINTR expectations) belong to the program's threads.
  // Threads inherit the creator's mask, so block all around their creation.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const std::size_t workers = static_cast<std::size_t>(o.max_concurrency);
  impl_->workers = std::make_unique<BoundedTaskQueue>(workers, 4 * workers);
  impl_->deadlines = std::make_unique<HeaderDeadlines>(std::chrono::seconds(o.header_timeout_s));
  impl_->daemon = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, nullptr,
      nullptr, &on_access, impl_.get(),
      MHD_OPTION_LISTEN_SOCKET, static_cast<MHD_socket>(listen_fd),
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<size_t>(o.max_header_bytes),
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(o.max_connections),
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, static_cast<unsigned>(o.max_connections_per_client),
      MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(o.idle_timeout_s),
      MHD_OPTION_URI_LOG_CALLBACK, &on_request_line, impl_.get(),
      MHD_OPTION_NOTIFY_COMPLETED, &on_completed, impl_.get(),
      MHD_OPTION_NOTIFY_CONNECTION, &on_connection, impl_.get(),
      MHD_OPTION_END);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (impl_->daemon == nullptr) {
    ::close(listen_fd);
    impl_->workers->shutdown_for(std::chrono::seconds(1));
    impl_->deadlines.reset();
    return absl::InternalError("libmicrohttpd could not start the debug server's event loop");
  }
  impl_->listen_fd = listen_fd;
  if (const MHD_DaemonInfo* di = MHD_get_daemon_info(impl_->daemon, MHD_DAEMON_INFO_EPOLL_FD)) {
    impl_->epoll_fd = di->epoll_fd;
  }
  add_fork_participant(impl_.get());
  return absl::OkStatus();
}

bool MhdFront::stop_within(std::chrono::milliseconds limit) {
  if (impl_->stopped || impl_->daemon == nullptr) return true;
  // From here on a fork() leaves this server's fds to the child (they are
  // about to close, and must never be closed in a child once reused).
  remove_fork_participant(impl_.get());
  // relaxed: see the load in on_access().
  impl_->refusing.store(true, std::memory_order_relaxed);
  // No MHD_quiesce_daemon(): with the internal epoll thread it races that
  // thread for the listen socket's removal from the epoll set, and the
  // loser's epoll_ctl(EPOLL_CTL_DEL) fails with ENOENT, which libmicrohttpd
  // 0.9.75 answers with MHD_PANIC, abort() by default: the host program
  // died ("Failed to remove listen FD from epoll set", seen when a test
  // stopped the server right after a request). Until MHD_stop_daemon()
  // closes it, the listen socket stays open and every new request gets the
  // refusal; if the workers do not drain in time, it stays so.
  impl_->ctx.canceller.cancel();
  if (!impl_->workers->shutdown_for(limit)) {
    (void)impl_->workers.release();  // detached workers still use it: leaked on purpose
    (void)impl_->deadlines.release();  // the loop keeps running and still reports to it
    return false;
  }
  MHD_stop_daemon(impl_->daemon);  // closes the listen socket and every connection, joins the loop
  impl_->daemon = nullptr;
  impl_->deadlines.reset();  // every entry was removed by the CLOSED notifications
  impl_->stopped = true;
  return true;
}

}  // namespace syncscope::http::internal
