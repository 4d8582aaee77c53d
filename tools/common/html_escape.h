// Escaping for text placed in HTML and SVG (element content and
// double-quoted attribute values), shared by the tools' report writers.
#pragma once

#include <string>
#include <string_view>

namespace syncscope::tools {

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

}  // namespace syncscope::tools
