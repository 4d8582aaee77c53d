#include "http/message.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace syncscope::http::internal {

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const noexcept {
  const std::size_t n = a.size() < b.size() ? a.size() : b.size();
  for (std::size_t i = 0; i < n; ++i) {
    const char x = absl::ascii_tolower(static_cast<unsigned char>(a[i]));
    const char y = absl::ascii_tolower(static_cast<unsigned char>(b[i]));
    if (x != y) return x < y;
  }
  return a.size() < b.size();
}

std::string Request::get_param_value(const std::string& key) const {
  auto it = params.find(key);
  return it == params.end() ? std::string() : it->second;
}

std::string Request::get_header_value(std::string_view key) const {
  auto it = headers.find(key);
  return it == headers.end() ? std::string() : it->second;
}

void Response::set_header(std::string_view key, std::string_view value) {
  for (auto& [k, v] : headers) {
    if (absl::EqualsIgnoreCase(k, absl::string_view(key.data(), key.size()))) {
      v = std::string(value);
      return;
    }
  }
  headers.emplace_back(std::string(key), std::string(value));
}

void Response::set_content(std::string content, std::string_view content_type) {
  body = std::move(content);
  set_header("Content-Type", content_type);
}

void Response::set_content(const char* data, std::size_t size, std::string_view content_type) {
  set_content(std::string(data, size), content_type);
}

void Response::set_redirect(std::string_view location, int code) {
  status = code;
  set_header("Location", location);
  body.clear();
}

}  // namespace syncscope::http::internal
