// /debug/retain, /debug/maps and /debug/api/summary.
#include "absl/strings/str_cat.h"
#include "http/params.h"
#include "http/responses.h"
#include "http/routes.h"
#include "http/sources.h"
#include "http/summary.h"

namespace syncscope::http::internal {
namespace {

// ?format=json|text; `fallback` when absent.
absl::StatusOr<bool> wants_json(const Request& req, bool fallback) {
  absl::StatusOr<std::optional<std::string>> f = string_param(req, "format");
  if (!f.ok()) return f.status();
  if (!f->has_value()) return fallback;
  if (**f == "json") return true;
  if (**f == "text") return false;
  return absl::InvalidArgumentError("invalid value for \"format\": want json or text");
}

void retain(const Request& req, Response& res) {
  absl::StatusOr<bool> json = wants_json(req, true);
  if (!json.ok()) return reply_status(res, json.status());
  RetainQuery q;
  q.json = *json;
  absl::StatusOr<std::optional<std::string>> site = string_param(req, "site");
  if (!site.ok()) return reply_status(res, site.status());
  absl::StatusOr<std::optional<std::string>> addr = string_param(req, "addr");
  if (!addr.ok()) return reply_status(res, addr.status());
  absl::StatusOr<std::optional<std::int64_t>> max_paths = int_param(req, "max_paths", 1, 100);
  if (!max_paths.ok()) return reply_status(res, max_paths.status());
  if ((site->has_value() && (*site)->empty()) || (addr->has_value() && (*addr)->empty())) {
    return reply_error(res, 400, "\"site\" and \"addr\" must not be empty");
  }
  if (site->has_value() && (*site)->size() > 256) {
    return reply_error(res, 400, "\"site\" is longer than 256 bytes");
  }
  if (site->has_value() && addr->has_value()) {
    return reply_error(res, 400, "give either \"site\" or \"addr\", not both");
  }
  q.site = *site;
  q.addr = *addr;
  q.max_paths = static_cast<int>(max_paths->value_or(10));
  absl::StatusOr<std::string> body = retention_report(q);
  if (!body.ok()) return reply_status(res, body.status());
  q.json ? reply_json(res, *std::move(body)) : reply_text(res, *std::move(body));
}

void maps(const Request& req, Response& res) {
  absl::StatusOr<bool> json = wants_json(req, true);
  if (!json.ok()) return reply_status(res, json.status());
  if (!parts_present().map) return reply_not_built(res, "map");
  *json ? reply_json(res, maps_json()) : reply_text(res, maps_text());
}

void summary(const Request& req, Response& res) {
  absl::StatusOr<std::optional<std::int64_t>> top = int_param(req, "top", 0, 100);
  if (!top.ok()) return reply_status(res, top.status());
  reply_json(res, summary_json(static_cast<int>(top->value_or(10))));
}

}  // namespace

void add_debug_routes(Router& s, ServerContext&) {
  s.Get("/debug/retain", retain);
  s.Get("/debug/maps", maps);
  s.Get("/debug/api/summary", summary);
}

}  // namespace syncscope::http::internal
