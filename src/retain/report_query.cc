// retention_report (one call for the HTTP endpoint and the lab) and
// parse_address (query-parameter validation).
#include <charconv>
#include <string>

#include "absl/status/status.h"
#include "syncscope/retain/retention.h"

namespace syncscope::retain {

absl::StatusOr<std::uintptr_t> parse_address(std::string_view text) {
  std::string_view digits = text;
  int base = 10;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    digits.remove_prefix(2);
    base = 16;
  }
  std::uintptr_t value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
  if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
    return absl::InvalidArgumentError("addr must be a hexadecimal (0x...) or decimal address, got '" +
                                      std::string(text.substr(0, 64)) + "'");
  }
  return value;
}

absl::StatusOr<std::string> retention_report(const ReportQuery& query, const Options& options) {
  if (int{!query.site.empty()} + int{!query.type.empty()} + int{query.address.has_value()} > 1) {
    return absl::InvalidArgumentError("give one of site, type or addr, not several");
  }
  absl::StatusOr<RetentionSnapshot> snap = take_snapshot(options);
  if (!snap.ok()) return snap.status();
  if (query.address) {
    const RetentionPath p = snap->path_to(*query.address);
    return query.json ? to_json(p) : to_text(p);
  }
  if (!query.site.empty() || !query.type.empty()) {
    const auto paths = query.site.empty() ? snap->paths_to_type(query.type, query.max_paths)
                                          : snap->paths_to_site(query.site, query.max_paths);
    return query.json ? to_json(paths) : to_text(paths);
  }
  const auto top = snap->top_retainers(query.top);
  const auto leaked = snap->leaked_tasks();
  if (query.json) {
    return "{\"top_retainers\":" + to_json(top) + ",\"leaked_tasks\":" + to_json(leaked) + "}";
  }
  return to_text(top) + to_text(leaked);
}

}  // namespace syncscope::retain
