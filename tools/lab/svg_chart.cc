// Terminal sparkline and inline SVG chart of live heap bytes over time.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "detector.h"
#include "report.h"

namespace syncscope::lab {

std::string sparkline(const std::vector<HeapSample>& samples, std::size_t width) {
  static const char* const kBars[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  if (samples.empty() || width == 0) return "";
  width = std::min(width, samples.size());
  std::vector<double> buckets(width, 0);
  std::vector<int> counts(width, 0);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const std::size_t b = i * width / samples.size();
    buckets[b] += static_cast<double>(samples[i].live_bytes);
    ++counts[b];
  }
  for (std::size_t b = 0; b < width; ++b) buckets[b] /= std::max(1, counts[b]);
  const auto [lo, hi] = std::minmax_element(buckets.begin(), buckets.end());
  const double span = *hi - *lo;
  std::string out;
  for (double v : buckets) {
    const int level = span <= 0 ? 0 : static_cast<int>(std::lround((v - *lo) / span * 7));
    out += kBars[std::clamp(level, 0, 7)];
  }
  return out;
}

std::string heap_svg(const std::vector<HeapSample>& samples, double warmup_s, bool leak) {
  constexpr double kW = 640, kH = 220, kLeft = 70, kRight = 12, kTop = 12, kBottom = 30;
  std::string svg = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" "
      "height=\"%.0f\" role=\"img\" aria-label=\"live heap bytes over time\">",
      kW, kH, kW, kH);
  if (samples.empty()) return svg + "<text x=\"10\" y=\"20\">no samples</text></svg>";
  const double t_max = std::max(samples.back().t_s, 0.1);
  double y_max = 0;
  for (const auto& s : samples) y_max = std::max(y_max, static_cast<double>(s.live_bytes));
  y_max = std::max(y_max * 1.1, 1.0);
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  auto x = [&](double t) { return kLeft + t / t_max * pw; };
  auto y = [&](double b) { return kTop + ph - b / y_max * ph; };
  absl::StrAppendFormat(&svg,
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#eee\"/>"
                        "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#666\">warm-up</text>",
                        kLeft, kTop, std::min(warmup_s, t_max) / t_max * pw, ph, kLeft + 4, kTop + 14);
  for (int i = 0; i <= 4; ++i) {
    const double b = y_max * i / 4;
    absl::StrAppendFormat(&svg,
                          "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ccc\"/>"
                          "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"end\">%s</text>",
                          kLeft, kW - kRight, y(b), y(b), kLeft - 6, y(b) + 4, format_bytes(b));
  }
  for (int i = 0; i <= 5; ++i) {
    const double t = t_max * i / 5;
    absl::StrAppendFormat(&svg,
                          "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\">%.1f s</text>",
                          x(t), kH - 10, t);
  }
  std::string points;
  for (const auto& s : samples) {
    absl::StrAppendFormat(&points, "%.1f,%.1f ", x(s.t_s), y(static_cast<double>(s.live_bytes)));
  }
  absl::StrAppendFormat(&svg,
                        "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%s\"/></svg>",
                        leak ? "#c0392b" : "#27ae60", points);
  return svg;
}

}  // namespace syncscope::lab
