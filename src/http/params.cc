#include "http/params.h"

#include <charconv>

#include "absl/strings/str_cat.h"

namespace syncscope::http::internal {

absl::StatusOr<std::optional<std::string>> string_param(const Request& req,
                                                        std::string_view name) {
  const std::string key(name);
  const std::size_t n = req.get_param_value_count(key);
  if (n == 0) return std::optional<std::string>();
  if (n > 1) return absl::InvalidArgumentError(absl::StrCat("parameter \"", std::string(name), "\" given more than once"));
  return std::optional<std::string>(req.get_param_value(key));
}

absl::StatusOr<std::optional<std::int64_t>> int_param(const Request& req,
                                                      std::string_view name,
                                                      std::int64_t min, std::int64_t max) {
  absl::StatusOr<std::optional<std::string>> raw = string_param(req, name);
  if (!raw.ok()) return raw.status();
  if (!raw->has_value()) return std::optional<std::int64_t>();
  const std::string& text = **raw;
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec == std::errc::invalid_argument || ptr != end) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid value for \"", std::string(name), "\": want an integer"));
  }
  if (ec == std::errc::result_out_of_range || value < min || value > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid value for \"", std::string(name), "\": want ", min, "..", max));
  }
  return std::optional<std::int64_t>(value);
}

absl::StatusOr<ProfileParams> profile_params(const Request& req, int max_debug,
                                             int max_seconds) {
  ProfileParams p;
  absl::StatusOr<std::optional<std::int64_t>> debug = int_param(req, "debug", 0, max_debug);
  if (!debug.ok()) return debug.status();
  absl::StatusOr<std::optional<std::int64_t>> seconds =
      int_param(req, "seconds", 1, max_seconds);
  if (!seconds.ok()) return seconds.status();
  absl::StatusOr<std::optional<std::int64_t>> gc = int_param(req, "gc", 0, 1);
  if (!gc.ok()) return gc.status();
  if (debug->has_value() && seconds->has_value()) {
    return absl::InvalidArgumentError("seconds and debug params are incompatible");
  }
  if (debug->has_value()) p.debug = static_cast<int>(**debug);
  if (seconds->has_value()) p.seconds = static_cast<int>(**seconds);
  p.gc = gc->value_or(0) != 0;
  return p;
}

}  // namespace syncscope::http::internal
