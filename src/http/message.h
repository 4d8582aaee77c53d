// Request and Response: what a route handler sees of one HTTP exchange,
// independent of the server library underneath (libmicrohttpd, see
// mhd_front.h). Only complete, already-bounded requests reach a handler: the
// front checks sizes, counts, the token and the path before building one.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace syncscope::http::internal {

// Header names compare ASCII-case-insensitively (RFC 9110 §5.1).
struct CaseInsensitiveLess {
  bool operator()(std::string_view a, std::string_view b) const noexcept;
  using is_transparent = void;
};

struct Request {
  std::string method;  // "GET", "HEAD" or "POST" (others never reach a handler)
  std::string path;    // percent-decoded path, without the query
  std::string target;  // the request target exactly as sent (path and query, not decoded)
  std::string body;    // POST body, at most Options::max_body_bytes
  std::multimap<std::string, std::string> params;  // decoded query parameters
  std::multimap<std::string, std::string, CaseInsensitiveLess> headers;  // raw values

  bool has_param(const std::string& key) const { return params.count(key) != 0; }
  std::size_t get_param_value_count(const std::string& key) const { return params.count(key); }
  // First value of `key`; empty when absent.
  std::string get_param_value(const std::string& key) const;
  std::size_t get_header_value_count(std::string_view key) const { return headers.count(key); }
  // First value of `key`, byte-exact (no decoding, embedded NULs kept); empty when absent.
  std::string get_header_value(std::string_view key) const;
};

struct Response {
  int status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // sent in this order

  // Replaces an earlier value of the same header.
  void set_header(std::string_view key, std::string_view value);
  void set_content(std::string content, std::string_view content_type);
  void set_content(const char* data, std::size_t size, std::string_view content_type);
  void set_redirect(std::string_view location, int status);
};

}  // namespace syncscope::http::internal
