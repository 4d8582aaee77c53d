// Query-parameter parsing with Go net/http/pprof's names and rules, but
// stricter: anything malformed is a 400 with a one-line reason instead of
// being silently treated as 0.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/message.h"

#include "absl/status/statusor.h"

namespace syncscope::http::internal {

// The parameters every profile endpoint understands.
struct ProfileParams {
  int debug = 0;                 // 0 = binary pprof; 1, 2 = text
  std::optional<int> seconds;    // present = delta profile / trace duration
  bool gc = false;               // accepted for Go compatibility; no GC here
};

// A decimal integer in [min, max]. Rejects signs other than '-', spaces,
// trailing garbage, overflow and repeated parameters.
absl::StatusOr<std::optional<std::int64_t>> int_param(const Request& req,
                                                      std::string_view name,
                                                      std::int64_t min, std::int64_t max);

// debug in [0, max_debug]; seconds in [1, max_seconds]; seconds together with
// debug is an error (as in Go: "seconds and debug params are incompatible").
absl::StatusOr<ProfileParams> profile_params(const Request& req, int max_debug,
                                             int max_seconds);

// A plain string parameter (first value); error when given more than once.
absl::StatusOr<std::optional<std::string>> string_param(const Request& req,
                                                        std::string_view name);

}  // namespace syncscope::http::internal
