// HeapSnapshot -> pprof, deltas, and per-site summaries for the lab.
#include <algorithm>
#include <map>
#include <unordered_map>

#include "prof/thread_state.h"
#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/profile_builder.h"
#include "syncscope/prof/site_growth.h"
#include "syncscope/prof/symbolizer.h"
#include "syncscope/prof/task_labels.h"

namespace syncscope::prof {

std::string HeapSnapshot::to_pprof(const std::string& default_sample_type) const {
  internal::HookGuard guard;
  ProfileBuilder builder({{"alloc_objects", "count"},
                          {"alloc_space", "bytes"},
                          {"inuse_objects", "count"},
                          {"inuse_space", "bytes"}},
                         {"space", "bytes"}, sample_rate, default_sample_type);
  builder.set_time_nanos(time_nanos);
  builder.add_comment("syncscope heap profile; sampling rate " + std::to_string(sample_rate) +
                      " bytes; values are unbiased estimates");
  const NamedFrame unknown[] = {{"[unknown stack]", "", 0}};
  for (const HeapSample& s : samples) {
    const std::int64_t values[] = {s.alloc_objects, s.alloc_bytes, s.inuse_objects,
                                   s.inuse_bytes};
    const std::vector<SampleLabel> labels = task_sample_labels(s.task_label);
    if (s.pcs.empty()) {
      builder.add_named_sample(unknown, values, labels);
    } else {
      builder.add_sample(s.pcs, values, labels);
    }
  }
  return builder.serialize_gzipped();
}

HeapSnapshot HeapSnapshot::delta_since(const HeapSnapshot& base) const {
  internal::HookGuard guard;
  const auto alloc_figures = [](const HeapSnapshot& snap) {
    SiteFigures<std::uint32_t> out;
    out.reserve(snap.samples.size());
    for (const HeapSample& s : snap.samples) out.push_back({s.site, {s.alloc_bytes, s.alloc_objects}});
    return out;
  };
  std::unordered_map<std::uint32_t, SiteFigure> grown;  // site -> its alloc_* in `base`
  for (const SiteGain<std::uint32_t>& g : grown_sites(alloc_figures(base), alloc_figures(*this))) {
    grown.emplace(g.site, g.before);
  }
  HeapSnapshot out;
  out.sample_rate = sample_rate;
  out.time_nanos = time_nanos;
  for (const HeapSample& s : samples) {  // in this snapshot's order
    const auto it = grown.find(s.site);
    if (it == grown.end()) continue;
    HeapSample d = s;
    d.alloc_bytes -= it->second.bytes;
    d.alloc_objects -= it->second.objects;
    out.samples.push_back(std::move(d));
  }
  return out;
}

std::int64_t HeapSnapshot::total_inuse_bytes() const {
  std::int64_t total = 0;
  for (const HeapSample& s : samples) total += s.inuse_bytes;
  return total;
}

namespace {

// Frames that describe the allocator or the standard library, not the site.
// The first non-plumbing frame of a stack (inlined frames included).
SymbolFrame site_frame(const std::vector<std::uintptr_t>& pcs) {
  SymbolFrame fallback{"??", "", 0, false};
  for (std::uintptr_t pc : pcs) {
    for (SymbolFrame& f : Symbolizer::instance().symbolize(pc > 0 ? pc - 1 : pc)) {
      if (fallback.function == "??") fallback = f;
      if (!is_allocator_plumbing(f)) return f;
    }
  }
  return fallback;
}

}  // namespace

std::vector<SiteSummary> HeapProfiler::top_sites(std::size_t n) {
  internal::HookGuard guard;
  HeapSnapshot snap = snapshot();
  std::map<std::pair<std::string, std::string>, SiteSummary> by_site;
  for (const HeapSample& s : snap.samples) {
    SymbolFrame f = site_frame(s.pcs);
    std::string where = f.file.empty() ? "" : f.file + ":" + std::to_string(f.line);
    SiteSummary& sum = by_site[{f.function, where}];
    sum.function = f.function;
    sum.location = where;
    sum.live_bytes += s.inuse_bytes;
    sum.live_objects += s.inuse_objects;
    sum.alloc_bytes += s.alloc_bytes;
    sum.alloc_objects += s.alloc_objects;
  }
  std::vector<SiteSummary> out;
  out.reserve(by_site.size());
  for (auto& [key, sum] : by_site) out.push_back(std::move(sum));
  std::sort(out.begin(), out.end(), [](const SiteSummary& a, const SiteSummary& b) {
    return a.live_bytes != b.live_bytes ? a.live_bytes > b.live_bytes
                                        : a.alloc_bytes > b.alloc_bytes;
  });
  if (out.size() > n) out.resize(n);
  return out;
}

}  // namespace syncscope::prof
