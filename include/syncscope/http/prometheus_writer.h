// PrometheusWriter: builds the Prometheus text exposition format (0.0.4).
// Each metric family is written once with its # HELP and # TYPE lines, then
// its samples; label values are escaped as the format requires. Names are
// checked in debug builds; counters must end in _total (the caller's job).
// The one writer of that format in the project: /metrics and the lab's
// metrics.prom both go through it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace syncscope::http {

using Labels = std::vector<std::pair<std::string, std::string>>;

class PrometheusWriter {
 public:
  enum class Type { kCounter, kGauge };

  // Starts a family. PRECONDITION: each name at most once per exposition.
  void family(std::string_view name, Type type, std::string_view help);
  // A sample of the current family.
  void sample(const Labels& labels, double value);
  void sample(double value) { sample({}, value); }

  // Shorthand for a family with one unlabelled sample.
  void gauge(std::string_view name, std::string_view help, double value);
  void counter(std::string_view name, std::string_view help, double value);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
  std::string current_;  // name of the family being written
};

// "a\"b\\c\nd" -> escaped as a label value.
std::string escape_label_value(std::string_view v);

}  // namespace syncscope::http
