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
  // Exactly one of site, type, addr (or none: top retainers).
  const char* const kKeys[] = {"site", "type", "addr"};
  std::optional<std::string> values[3];
  int given = 0;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::optional<std::string>> v = string_param(req, kKeys[i]);
    if (!v.ok()) return reply_status(res, v.status());
    if (v->has_value() && (*v)->empty()) return reply_error(res, 400, std::string("\"") + kKeys[i] + "\" must not be empty");
    if (v->has_value() && (*v)->size() > 256) return reply_error(res, 400, std::string("\"") + kKeys[i] + "\" is longer than 256 bytes");
    given += v->has_value() ? 1 : 0;
    values[i] = *std::move(v);
  }
  if (given > 1) return reply_error(res, 400, "give one of \"site\", \"type\" or \"addr\", not several");
  absl::StatusOr<std::optional<std::int64_t>> max_paths = int_param(req, "max_paths", 1, 100);
  if (!max_paths.ok()) return reply_status(res, max_paths.status());
  q.site = values[0];
  q.type = values[1];
  q.addr = values[2];
  q.max_paths = static_cast<int>(max_paths->value_or(10));
  absl::StatusOr<std::string> body = retention_report(q);
  if (!body.ok()) return reply_status(res, body.status());
  q.json ? reply_json(res, *std::move(body)) : reply_text(res, *std::move(body));
}

void maps(const Request& req, Response& res) {
  absl::StatusOr<bool> json = wants_json(req, true);
  if (!json.ok()) return reply_status(res, json.status());
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
