// Which allocation sites grew between two measurements: the one definition
// of growth that the heap profile's delta (Go's ?seconds=N), the retention
// snapshot's growth and the lab's reports share.
//
// A site "grew" when its bytes in `after` exceed its bytes in `before` (a
// site missing from `before` starts from zero; a site missing from `after`
// did not grow). The figures may be live bytes (which sites hold more now)
// or cumulative allocation counters (which sites allocated since), as the
// caller measures them.
//
// Thread safety: pure functions of their arguments.
// Complexity: O(|before| + |after| log |after|).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <unordered_map>
#include <utility>
#include <vector>

namespace syncscope::prof {

// Bytes and objects of one site at one moment.
struct SiteFigure {
  std::int64_t bytes = 0;
  std::int64_t objects = 0;
};

// One site that grew, with both measurements.
template <class Key>
struct SiteGain {
  Key site{};
  SiteFigure before;  // zero when the site was absent
  SiteFigure after;

  std::int64_t bytes_gained() const { return after.bytes - before.bytes; }
  std::int64_t objects_gained() const { return after.objects - before.objects; }
};

template <class Key>
using SiteFigures = std::vector<std::pair<Key, SiteFigure>>;

struct GrowthOptions {
  // At most this many sites, the largest gains.
  std::size_t max_sites = std::numeric_limits<std::size_t>::max();
  // A site must also gain at least this many objects (default: the bytes
  // alone decide).
  std::int64_t min_objects_gained = std::numeric_limits<std::int64_t>::min();
};

// Sites of `after` that grew since `before`, largest byte gain first, ties
// by site key. Each key appears at most once in each input.
template <class Key>
std::vector<SiteGain<Key>> grown_sites(const SiteFigures<Key>& before, const SiteFigures<Key>& after,
                                       const GrowthOptions& options = {}) {
  std::unordered_map<Key, SiteFigure> old;
  old.reserve(before.size());
  for (const auto& [site, figure] : before) old.emplace(site, figure);
  std::vector<SiteGain<Key>> out;
  for (const auto& [site, figure] : after) {
    const auto it = old.find(site);
    SiteGain<Key> g{site, it == old.end() ? SiteFigure{} : it->second, figure};
    if (g.bytes_gained() <= 0 || g.objects_gained() < options.min_objects_gained) continue;
    out.push_back(std::move(g));
  }
  std::sort(out.begin(), out.end(), [](const SiteGain<Key>& a, const SiteGain<Key>& b) {
    return a.bytes_gained() != b.bytes_gained() ? a.bytes_gained() > b.bytes_gained() : a.site < b.site;
  });
  if (out.size() > options.max_sites) out.resize(options.max_sites);
  return out;
}

}  // namespace syncscope::prof
