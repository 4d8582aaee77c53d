#include "http/responses.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace syncscope::http::internal {

void reply_error(Response& res, int status, std::string_view reason) {
  std::string line(reason);
  std::replace_if(line.begin(), line.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  res.status = status;
  // Go's serveError marks pprof errors so clients can tell them from proxies'.
  res.set_header("X-Go-Pprof", "1");
  res.set_content(line + "\n", kTextPlain);
}

void reply_status(Response& res, const absl::Status& status) {
  int code = 500;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      code = 400;
      break;
    case absl::StatusCode::kNotFound:
      code = 404;
      break;
    case absl::StatusCode::kUnimplemented:
      code = 501;
      break;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kFailedPrecondition:
      code = 503;
      break;
    default:
      break;
  }
  reply_error(res, code, std::string(status.message()));
}

void reply_profile(Response& res, std::string bytes, std::string_view name,
                   bool delta) {
  res.status = 200;
  res.set_header("Content-Disposition",
                 absl::StrCat("attachment; filename=\"", std::string(name), delta ? "-delta" : "", "\""));
  res.set_content(std::move(bytes), kOctetStream);
}

void reply_text(Response& res, std::string body) {
  res.status = 200;
  res.set_content(std::move(body), kTextPlain);
}

void reply_json(Response& res, std::string body) {
  res.status = 200;
  res.set_content(std::move(body), kJson);
}

void reply_not_built(Response& res, std::string_view part) {
  reply_error(res, 501,
              absl::StrCat("not implemented: this build of syncscope has no '", std::string(part),
                           "' part (link syncscope::", std::string(part),
                           " to enable this endpoint)"));
}

}  // namespace syncscope::http::internal
