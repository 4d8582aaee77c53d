// Small string helpers for the driver. (Debian's abseil is built with its own
// string_view type, not std::string_view, so absl::Str* do not mix with
// C++20 code that uses std::string_view; these few helpers avoid the clash.)
#pragma once

#include <charconv>
#include <cstdarg>
#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace syncscope::mapbench::text {

inline std::vector<std::string_view> split(std::string_view s, std::string_view seps,
                                           bool skip_empty = false) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = s.find_first_of(seps, start);
    std::string_view piece = s.substr(start, end == std::string_view::npos ? s.npos : end - start);
    if (!skip_empty || !piece.empty()) out.push_back(piece);
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

inline std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

inline bool consume_prefix(std::string_view& s, std::string_view prefix) {
  if (!s.starts_with(prefix)) return false;
  s.remove_prefix(prefix.size());
  return true;
}

inline bool consume_suffix(std::string_view& s, std::string_view suffix) {
  if (!s.ends_with(suffix)) return false;
  s.remove_suffix(suffix.size());
  return true;
}

template <class T>
bool parse_number(std::string_view s, T& out) {
  if (s.empty()) return false;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

template <class Range>
std::string join(const Range& items, std::string_view sep) {
  std::string out;
  bool first = true;
  for (const auto& item : items) {
    if (!first) out += sep;
    first = false;
    if constexpr (std::is_arithmetic_v<std::decay_t<decltype(item)>>) {
      out += std::to_string(item);
    } else {
      out += item;
    }
  }
  return out;
}

namespace text_internal {
inline void append_one(std::string& out, std::string_view s) { out += s; }
inline void append_one(std::string& out, const char* s) { out += s; }
inline void append_one(std::string& out, const std::string& s) { out += s; }
inline void append_one(std::string& out, char c) { out += c; }
template <class T>
  requires std::is_arithmetic_v<T>
void append_one(std::string& out, T v) {
  out += std::to_string(v);
}
}  // namespace text_internal

// Appends each argument (strings as they are, numbers in decimal).
template <class... Args>
void append(std::string& out, const Args&... args) {
  (text_internal::append_one(out, args), ...);
}

template <class... Args>
std::string cat(const Args&... args) {
  std::string out;
  append(out, args...);
  return out;
}

// printf into a std::string.
[[gnu::format(printf, 1, 2)]] inline std::string format(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  va_list ap2;
  va_copy(ap2, ap);
  const int n = std::vsnprintf(nullptr, 0, fmt, ap);
  va_end(ap);
  std::string out(n > 0 ? static_cast<std::size_t>(n) : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, ap2);
  va_end(ap2);
  return out;
}

}  // namespace syncscope::mapbench::text
