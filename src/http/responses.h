// Response helpers that follow Go net/http/pprof's conventions: binary
// profiles are application/octet-stream with a Content-Disposition filename
// ("-delta" suffix for deltas), text is text/plain; charset=utf-8, and every
// response carries X-Content-Type-Options: nosniff (set by the server).
#pragma once

#include <string>
#include <string_view>

#include "http/message.h"

#include "absl/status/status.h"

namespace syncscope::http::internal {

inline constexpr const char* kTextPlain = "text/plain; charset=utf-8";
inline constexpr const char* kJson = "application/json";
inline constexpr const char* kHtml = "text/html; charset=utf-8";
inline constexpr const char* kOctetStream = "application/octet-stream";

// `status` with a one-line plain-text reason (newlines are replaced).
void reply_error(Response& res, int status, std::string_view reason);
// 400 for InvalidArgument/OutOfRange, 501 for Unimplemented, 503 for
// Unavailable/Cancelled, 500 otherwise.
void reply_status(Response& res, const absl::Status& status);
// A binary pprof profile named `name` ("heap" -> filename="heap" or "heap-delta").
void reply_profile(Response& res, std::string bytes, std::string_view name,
                   bool delta);
void reply_text(Response& res, std::string body);
void reply_json(Response& res, std::string body);
// 501 for an endpoint whose part is not in this build.
void reply_not_built(Response& res, std::string_view part);

}  // namespace syncscope::http::internal
