// Hand-written SVG: one panel per charted workload, throughput (millions of
// operations per second, log scale) against thread count, one line per system.
#include <algorithm>
#include <cmath>
#include <map>

#include "syncscope/http/html_escape.h"
#include "report.h"
#include "text.h"

namespace syncscope::mapbench {
namespace {

constexpr double kPanelW = 420, kPanelH = 320, kMarginL = 60, kMarginR = 20, kMarginT = 40,
                 kMarginB = 50, kHeader = 60, kLegendRowH = 18;

const char* const kColors[] = {"#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e",
                               "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};

std::string escape(std::string_view s) { return http::html_escape(s); }

using Series = std::map<std::tuple<std::string, std::string, int>, double>;  // Mops/s per cell

struct Scale {
  double log_lo, log_hi;  // decades at the bottom and top of every panel
};

void append_panel(std::string& svg, const std::string& workload, std::size_t index,
                  const Series& mops, const RunContext& ctx, Scale sc) {
  const auto& threads = ctx.threads;
  const double x0 = kPanelW * static_cast<double>(index) + kMarginL, y0 = kHeader + kMarginT;
  const double pw = kPanelW - kMarginL - kMarginR, ph = kPanelH - kMarginT - kMarginB;
  auto px = [&](std::size_t i) {
    return threads.size() <= 1
               ? x0 + pw / 2
               : x0 + pw * static_cast<double>(i) / static_cast<double>(threads.size() - 1);
  };
  auto py = [&](double v) { return y0 + ph * (1 - (std::log10(v) - sc.log_lo) / (sc.log_hi - sc.log_lo)); };
  svg += text::format("<text x=\"%.1f\" y=\"%.1f\" font-weight=\"bold\">%s</text>\n", x0, y0 - 12,
                      escape(workload).c_str());
  svg += text::format("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888\"/>\n",
                      x0, y0, pw, ph);
  for (double e = sc.log_lo; e <= sc.log_hi + 1e-9; e += 1) {
    const double y = py(std::pow(10.0, e));
    svg += text::format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
                        "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                        x0, y, x0 + pw, y, x0 - 4, y + 4, std::pow(10.0, e));
  }
  for (std::size_t i = 0; i < threads.size(); ++i) {
    svg += text::format("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n", px(i),
                        y0 + ph + 16, threads[i]);
  }
  svg += text::format("<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">threads</text>\n", x0 + pw / 2,
                      y0 + ph + 34);
  for (std::size_t s = 0; s < ctx.systems.size(); ++s) {
    const char* color = kColors[s % std::size(kColors)];
    std::string points;
    for (std::size_t i = 0; i < threads.size(); ++i) {
      auto it = mops.find({workload, ctx.systems[s], threads[i]});
      if (it == mops.end()) continue;
      points += text::format("%.1f,%.1f ", px(i), py(it->second));
      svg += text::format("<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"><title>%s %s %d threads: %.3g Mops/s</title></circle>\n",
                          px(i), py(it->second), color, escape(workload).c_str(),
                          escape(ctx.systems[s]).c_str(), threads[i], it->second);
    }
    if (!points.empty()) {
      svg += text::format("<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n",
                          points.c_str(), color);
    }
  }
}

void append_legend(std::string& svg, const RunContext& ctx) {
  const double ly = kHeader + kPanelH;
  for (std::size_t s = 0; s < ctx.systems.size(); ++s) {
    const double lx = 20 + static_cast<double>(s % 2) * 300;
    const double y = ly + kLegendRowH * static_cast<double>(s / 2);
    svg += text::format("<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"3\"/>"
                        "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                        lx, y - 4, lx + 24, y - 4, kColors[s % std::size(kColors)], lx + 30, y,
                        escape(ctx.systems[s]).c_str());
  }
}

}  // namespace

std::string render_svg(const std::vector<Record>& records, const RunContext& ctx) {
  std::vector<std::string> panels;
  for (const auto& w : kChartedWorkloads) {
    if (std::find(ctx.workloads.begin(), ctx.workloads.end(), w) != ctx.workloads.end()) panels.push_back(w);
  }
  Series mops;
  double lo = 1e300, hi = 0;
  for (const auto& r : records) {
    if (r.na || !(r.ns_per_op > 0) || !std::isfinite(r.ns_per_op)) continue;
    if (std::find(panels.begin(), panels.end(), r.workload) == panels.end()) continue;
    const double v = 1e3 / r.ns_per_op;
    mops[{r.workload, r.system, r.threads}] = v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  if (hi == 0) lo = 0.1, hi = 10;
  Scale sc;
  sc.log_lo = std::floor(std::log10(lo));
  sc.log_hi = std::max(sc.log_lo + 1, std::ceil(std::log10(hi)));
  const double ncols = static_cast<double>(std::max<std::size_t>(1, panels.size()));
  const double legend_h = kLegendRowH * (static_cast<double>(ctx.systems.size() + 1) / 2.0 + 1);
  const double width = kPanelW * ncols, height = kHeader + kPanelH + legend_h;
  std::string svg = text::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
      "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      width, height, width, height);
  text::append(svg, "<text x=\"10\" y=\"22\" font-size=\"16\" font-weight=\"bold\">"
                    "syncscope-mapbench: throughput vs threads (Mops/s, log scale; higher is better)</text>\n",
               "<text x=\"10\" y=\"42\">", escape(ctx.machine.one_line()), " · ", escape(ctx.duration),
               " per run · ", escape(ctx.date), "</text>\n");
  for (std::size_t p = 0; p < panels.size(); ++p) append_panel(svg, panels[p], p, mops, ctx, sc);
  append_legend(svg, ctx);
  svg += "</svg>\n";
  return svg;
}

}  // namespace syncscope::mapbench
