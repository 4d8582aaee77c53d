// Escaping for text placed in HTML and SVG (element content and
// double-quoted attribute values): the one copy, shared by the debug
// server's pages and the tools' report writers. Header-only, so a tool that
// does not link the http part may use it.
#pragma once

#include <string>
#include <string_view>

namespace syncscope::http {

inline std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

}  // namespace syncscope::http
