// Process-wide registry of named maps, so the debug server (/debug/maps,
// /metrics) and the lab can list every map and its stats without knowing the
// maps' template types. Maps constructed with MapOptions::name register
// themselves and unregister in their destructor.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "syncscope/map/map_stats.h"

namespace syncscope::map {

struct NamedMapStats {
  std::string name;
  MapStats stats;
};

class MapRegistry {
 public:
  using StatsFn = std::function<MapStats()>;

  static MapRegistry& instance();

  // Registers `stats` under `name`; returns a handle for unregister(). Several
  // maps may share a name (their entries are listed separately).
  std::uint64_t register_map(std::string name, StatsFn stats);
  void unregister(std::uint64_t handle) noexcept;

  // Stats of every registered map, in registration order. Calls each map's
  // stats function under the registry lock, so a map being destroyed waits in
  // unregister() until a running snapshot is done.
  std::vector<NamedMapStats> snapshot() const;

 private:
  MapRegistry() = default;
};

}  // namespace syncscope::map
