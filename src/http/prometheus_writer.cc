#include "syncscope/http/prometheus_writer.h"

#include <cassert>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace syncscope::http {
namespace {

bool valid_metric_name(std::string_view name) {
  if (name.empty()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  // %.17g round-trips doubles; integers up to 2^53 print without exponent.
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// HELP text escapes only backslash and newline.
std::string escape_help(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void PrometheusWriter::family(std::string_view name, Type type, std::string_view help) {
  assert(valid_metric_name(name));
  assert(type != Type::kCounter || name.ends_with("_total"));
  (void)valid_metric_name;
  current_ = std::string(name);
  absl::StrAppend(&out_, "# HELP ", current_, " ", escape_help(help), "\n", "# TYPE ", current_, " ",
                  type == Type::kCounter ? "counter" : "gauge", "\n");
}

void PrometheusWriter::sample(const Labels& labels, double value) {
  out_ += current_;
  if (!labels.empty()) {
    out_ += '{';
    for (std::size_t i = 0; i < labels.size(); ++i) {
      absl::StrAppend(&out_, i ? "," : "", labels[i].first, "=\"",
                      escape_label_value(labels[i].second), "\"");
    }
    out_ += '}';
  }
  absl::StrAppend(&out_, " ", format_value(value), "\n");
}

void PrometheusWriter::gauge(std::string_view name, std::string_view help, double value) {
  family(name, Type::kGauge, help);
  sample(value);
}

void PrometheusWriter::counter(std::string_view name, std::string_view help, double value) {
  family(name, Type::kCounter, help);
  sample(value);
}

}  // namespace syncscope::http
