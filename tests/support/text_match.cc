#include "support/text_match.h"

#include <regex>

namespace syncscope::test_support {
namespace {

TextMatch to_text_match(const std::cmatch& m) {
  std::vector<std::string> groups;
  std::vector<bool> matched;
  groups.reserve(m.size());
  matched.reserve(m.size());
  for (std::size_t i = 0; i < m.size(); ++i) {
    groups.push_back(m[i].str());
    matched.push_back(m[i].matched);
  }
  return TextMatch(std::move(groups), std::move(matched));
}

}  // namespace

std::optional<TextMatch> search(std::string_view text, const std::string& pattern) {
  std::cmatch m;
  if (!std::regex_search(text.data(), text.data() + text.size(), m, std::regex(pattern))) return std::nullopt;
  return to_text_match(m);
}

bool contains_match(std::string_view text, const std::string& pattern) {
  return std::regex_search(text.data(), text.data() + text.size(), std::regex(pattern));
}

std::optional<TextMatch> match_whole(std::string_view text, const std::string& pattern) {
  std::cmatch m;
  if (!std::regex_match(text.data(), text.data() + text.size(), m, std::regex(pattern))) return std::nullopt;
  return to_text_match(m);
}

std::vector<TextMatch> search_all(std::string_view text, const std::string& pattern) {
  const std::regex re(pattern);
  std::vector<TextMatch> out;
  for (std::cregex_iterator it(text.data(), text.data() + text.size(), re), end; it != end; ++it) {
    out.push_back(to_text_match(*it));
  }
  return out;
}

}  // namespace syncscope::test_support
