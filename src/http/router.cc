#include "http/router.h"

#include <exception>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "http/responses.h"

namespace syncscope::http::internal {

void Router::add(std::string method, std::string path, Handler h) {
  exact_[{std::move(method), std::move(path)}] = std::move(h);
}

void Router::GetPrefix(std::string prefix, Handler h) {
  get_prefixes_.emplace_back(std::move(prefix), std::move(h));
}

namespace {

void run_handler(const Handler& h, const Request& req, Response& res) {
  try {
    h(req, res);
  } catch (const std::exception& e) {
    res = Response();
    reply_error(res, 500, absl::StrCat("internal error: ", e.what()));
  } catch (...) {
    res = Response();
    reply_error(res, 500, "internal error: unknown exception");
  }
}

}  // namespace

void Router::dispatch(const Request& req, Response& res) const {
  const std::string method = req.method == "HEAD" ? "GET" : req.method;
  if (auto it = exact_.find({method, req.path}); it != exact_.end()) {
    return run_handler(it->second, req, res);
  }
  bool other_method = false;
  for (const auto& [key, h] : exact_) other_method |= key.second == req.path;
  if (other_method) return reply_error(res, 405, "method not allowed");
  const Handler* best = nullptr;
  std::size_t best_len = 0;
  for (const auto& [prefix, h] : get_prefixes_) {
    if (method == "GET" && req.path.size() > prefix.size() &&
        absl::StartsWith(req.path, prefix) && prefix.size() > best_len) {
      best = &h;
      best_len = prefix.size();
    }
  }
  if (best != nullptr) return run_handler(*best, req, res);
  reply_error(res, 404, absl::StrCat("404 page not found: ", req.path.substr(0, 256)));
}

}  // namespace syncscope::http::internal
