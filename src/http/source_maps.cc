// map adapter: MapRegistry snapshot -> MapFigure rows.
#include <map>

#include "absl/strings/str_cat.h"
#include "http/sources.h"

#ifdef SYNCSCOPE_HTTP_HAVE_MAP
#include "syncscope/map/map_registry.h"
#endif

namespace syncscope::http::internal {

absl::StatusOr<std::vector<MapFigure>> map_figures() {
#ifdef SYNCSCOPE_HTTP_HAVE_MAP
  std::vector<MapFigure> out;
  std::map<std::string, int> seen;  // name -> occurrences so far
  for (const map::NamedMapStats& m : map::MapRegistry::instance().snapshot()) {
    MapFigure f;
    const int n = ++seen[m.name];
    // Several maps may share a name; Prometheus needs distinct label sets.
    f.name = n == 1 ? m.name : absl::StrCat(m.name, "#", n);
    const map::MapStats& s = m.stats;
    f.kind = s.kind;
    f.hits = s.hits;
    f.misses = s.misses;
    f.promotions = s.promotions;
    f.dirty_rebuilds = s.dirty_rebuilds;
    f.expunges = s.expunges;
    f.compactions = s.compactions;
    f.pool_reuses = s.pool_reuses;
    f.pool_allocations = s.pool_allocations;
    f.live_entries = s.live_entries;
    f.retired_objects = s.retired_objects;
    f.retired_bytes = s.retired_bytes;
    f.pinned_readers = s.pinned_readers;
    f.pool_cached_nodes = s.pool_cached_nodes;
    out.push_back(std::move(f));
  }
  return out;
#else
  return absl::UnimplementedError(
      "not implemented: this build of syncscope has no 'map' part (link syncscope::map)");
#endif
}

}  // namespace syncscope::http::internal
