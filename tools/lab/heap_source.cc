#include "heap_source.h"

#include <malloc.h>

#include <string>

#include "syncscope/prof/site_growth.h"

#include "syncscope/prof/heap_profiler.h"

namespace syncscope::lab::heap {

void init(std::int64_t sample_rate, bool exact) {
  using syncscope::prof::HeapProfiler;
  HeapProfiler::set_sample_rate(sample_rate);
  HeapProfiler::set_exact_mode(exact);
  HeapProfiler::start();
}

bool have_profiles() {
  return syncscope::prof::HeapProfiler::hooks_installed();
}

std::uint64_t live_bytes() {
  if (have_profiles()) return syncscope::prof::HeapProfiler::counters().live_bytes;
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

std::string source_name() {
  if (have_profiles()) return "syncscope::prof live bytes (every malloc/new seen by the hooks)";
  return "glibc mallinfo2 in-use bytes (allocation hooks not installed: no per-site figures)";
}

absl::Status write_profile(const std::string& path) {
  if (have_profiles()) return syncscope::prof::HeapProfiler::write_heap_profile(path);
  (void)path;
  return absl::UnavailableError("heap profiler unavailable (allocation hooks not installed)");
}

std::vector<SiteBytes> top_sites(std::size_t n) {
  std::vector<SiteBytes> out;
  if (!have_profiles()) return out;
  for (const auto& s : syncscope::prof::HeapProfiler::top_sites(n)) {
    if (s.live_bytes == 0) continue;  // sites whose blocks were all freed
    std::string name = s.function;
    if (!s.location.empty()) name += " " + s.location;
    out.push_back({std::move(name), s.live_bytes, s.live_objects});
  }
  return out;
}

std::vector<SiteBytes> grown_sites(const std::vector<SiteBytes>& before,
                                   const std::vector<SiteBytes>& after, std::size_t n) {
  const auto figures = [](const std::vector<SiteBytes>& sites) {
    prof::SiteFigures<std::string> out;
    for (const SiteBytes& s : sites) out.push_back({s.site, {s.bytes, s.objects}});
    return out;
  };
  std::vector<SiteBytes> out;
  for (const auto& g : prof::grown_sites(figures(before), figures(after), {.max_sites = n})) {
    out.push_back({g.site, g.bytes_gained(), g.objects_gained()});
  }
  return out;
}

}  // namespace syncscope::lab::heap
