// Regular-expression checks on the text the tests read back (pprof's text
// reports, HTML, YAML, the Prometheus exposition, `go test` output), in one
// compiled object: a test file that instantiated std::regex's templates
// itself took 2 to 7 s longer to compile, in every build directory that
// builds it.
//
// Patterns use std::regex's default (ECMAScript) syntax. A pattern that does
// not compile throws std::regex_error, which fails the calling test.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace syncscope::test_support {

// One match: its text and the text of each capturing group.
class TextMatch {
 public:
  TextMatch(std::vector<std::string> groups, std::vector<bool> matched)
      : groups_(std::move(groups)), matched_(std::move(matched)) {}

  // Group i (0: the whole match); "" for a group that took no part in it.
  const std::string& operator[](std::size_t i) const { return groups_.at(i); }
  // Whether group i took part in the match (an optional group may not).
  bool matched(std::size_t i) const { return matched_.at(i); }
  // The number of groups, counting group 0.
  std::size_t size() const { return groups_.size(); }

 private:
  std::vector<std::string> groups_;  // groups_[0]: the whole match
  std::vector<bool> matched_;        // same size as groups_
};

// The first match of `pattern` anywhere in `text`, or nullopt.
std::optional<TextMatch> search(std::string_view text, const std::string& pattern);
// Whether `pattern` matches somewhere in `text`.
bool contains_match(std::string_view text, const std::string& pattern);
// The match when `pattern` matches the whole of `text`, or nullopt.
std::optional<TextMatch> match_whole(std::string_view text, const std::string& pattern);
// Every non-overlapping match of `pattern` in `text`, in order.
std::vector<TextMatch> search_all(std::string_view text, const std::string& pattern);

}  // namespace syncscope::test_support
