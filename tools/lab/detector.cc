#include "detector.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace syncscope::lab {
namespace {

constexpr double kMinToleranceBytes = 1024.0 * 1024.0;
constexpr double kRelativeTolerance = 0.10;

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double slope(const std::vector<HeapSample>& s) {
  if (s.size() < 2) return 0;
  double mx = 0, my = 0;
  for (const auto& p : s) {
    mx += p.t_s;
    my += static_cast<double>(p.live_bytes);
  }
  mx /= static_cast<double>(s.size());
  my /= static_cast<double>(s.size());
  double num = 0, den = 0;
  for (const auto& p : s) {
    num += (p.t_s - mx) * (static_cast<double>(p.live_bytes) - my);
    den += (p.t_s - mx) * (p.t_s - mx);
  }
  return den > 0 ? num / den : 0;
}

// Medians of the judged samples' first, middle and last thirds (by index).
struct Thirds {
  double first = 0;
  double middle = 0;
  double last = 0;
};

Thirds thirds(const std::vector<HeapSample>& s) {
  const std::size_t n = s.size();
  auto part = [&](std::size_t begin, std::size_t end) {
    std::vector<double> v;
    for (std::size_t i = begin; i < end; ++i) v.push_back(static_cast<double>(s[i].live_bytes));
    return median(std::move(v));
  };
  return {part(0, n / 3), part(n / 3, 2 * n / 3), part(2 * n / 3, n)};
}

std::string cause_of_levelled_off(const Verdict& v, double last_third_growth) {
  return absl::StrFormat(
      "live heap grew %s after warm-up, then levelled off (%s in the last third, tolerance %s): "
      "bounded growth, not a leak",
      format_bytes(static_cast<double>(v.growth_bytes)), format_bytes(last_third_growth),
      format_bytes(static_cast<double>(v.tolerance_bytes)));
}

std::string cause_of_leak(const Diagnosis& d, const Verdict& v) {
  const std::string growth = absl::StrFormat("live heap grew %s after warm-up (%s/s)",
                                             format_bytes(static_cast<double>(v.growth_bytes)),
                                             format_bytes(v.slope_bytes_per_s));
  // A reader pinned for long while the map's retired backlog piles up.
  for (const PinnedReaderInfo& r : d.pinned_readers) {
    if (r.pinned_for_s >= 0.5 && (r.held_back_objects > 0 || d.backlog_objects > 0)) {
      return absl::StrFormat(
          "%s: thread '%s' (tid %d) has been inside the map's read-side protection for %.1f s, "
          "so %d retired objects (and every value they own) cannot be freed",
          growth, r.thread_name, r.tid, r.pinned_for_s,
          std::max(r.held_back_objects, d.backlog_objects));
    }
  }
  const std::string via = d.retention_path.empty()
                              ? std::string()
                              : absl::StrCat(" (path: ", d.retention_path.front().site, " -> ",
                                             d.retention_target, ")");
  if (!d.retention_root_task.empty()) {
    std::size_t count = 1;
    std::string reason;
    for (const ResidentGroup& g : d.resident) {
      if (g.spawn_site == d.retention_root_task_site) {
        count = g.count;
        reason = g.blocking_reason;
      }
    }
    return absl::StrFormat("%s: %d task%s '%s' spawned at %s%s keep%s old values alive%s", growth,
                           count, count == 1 ? "" : "s", d.retention_root_task,
                           d.retention_root_task_site,
                           reason.empty() ? "" : absl::StrCat(" (blocked: ", reason, ")"),
                           count == 1 ? "s" : "", via);
  }
  if (!d.retention_path.empty()) {
    return absl::StrFormat("%s: %s is held from %s", growth, d.retention_target,
                           d.retention_path.front().site);
  }
  if (!d.grown_sites.empty()) return absl::StrCat(growth, ": most growth at ", d.grown_sites[0].site);
  return growth;
}

std::string cause_of_no_leak(const Diagnosis& d, const Verdict& v) {
  std::string s = absl::StrFormat("live heap flat after warm-up (%s change, tolerance %s)",
                                  format_bytes(static_cast<double>(v.growth_bytes)),
                                  format_bytes(static_cast<double>(v.tolerance_bytes)));
  for (const ResidentGroup& g : d.resident) {
    if (g.count >= 10) {
      absl::StrAppendFormat(&s, "; %d resident tasks at %s%s hold no growing memory", g.count,
                            g.spawn_site,
                            g.blocking_reason.empty() ? "" : absl::StrCat(" (blocked: ", g.blocking_reason, ")"));
      break;
    }
  }
  return s;
}

}  // namespace

std::string format_bytes(double bytes) {
  const double a = std::fabs(bytes);
  if (a >= 1024.0 * 1024.0) return absl::StrFormat("%.1f MiB", bytes / (1024.0 * 1024.0));
  if (a >= 1024.0) return absl::StrFormat("%.0f KiB", bytes / 1024.0);
  return absl::StrFormat("%.0f B", bytes);
}

Verdict judge(const Diagnosis& d) {
  Verdict v;
  std::vector<HeapSample> judged;
  for (const HeapSample& s : d.heap) {
    if (s.t_s >= d.warmup_s) judged.push_back(s);
  }
  if (judged.size() < 4) {
    v.cause = "too few heap samples after warm-up to judge (run longer)";
    return v;
  }
  const std::size_t w = std::max<std::size_t>(2, std::min<std::size_t>(10, judged.size() / 5));
  std::vector<double> first, last;
  for (std::size_t i = 0; i < w; ++i) {
    first.push_back(static_cast<double>(judged[i].live_bytes));
    last.push_back(static_cast<double>(judged[judged.size() - w + i].live_bytes));
  }
  const double start = median(first);
  const double end = median(last);
  v.live_bytes_start = static_cast<std::uint64_t>(start);
  v.live_bytes_end = static_cast<std::uint64_t>(end);
  v.growth_bytes = static_cast<std::int64_t>(end - start);
  v.slope_bytes_per_s = slope(judged);
  v.tolerance_bytes =
      static_cast<std::uint64_t>(std::max(kMinToleranceBytes, kRelativeTolerance * start));
  const Thirds t = thirds(judged);
  const double sustained = static_cast<double>(v.tolerance_bytes) / 4;
  const bool grew = end - start > static_cast<double>(v.tolerance_bytes) && v.slope_bytes_per_s > 0;
  // Still growing: a step, a cache filling up to its bound or a warm-up that
  // ran late grows in one third only; a leak grows in both halves.
  const bool kept_growing = t.middle - t.first > sustained && t.last - t.middle > sustained;
  v.leak = grew && kept_growing;
  v.cause = v.leak ? cause_of_leak(d, v)
            : grew ? cause_of_levelled_off(v, t.last - t.middle)
                   : cause_of_no_leak(d, v);
  return v;
}

}  // namespace syncscope::lab
