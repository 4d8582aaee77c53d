#include "syncscope/map/map_registry.h"

#include <mutex>

namespace syncscope::map {
namespace {

struct RegistryState {
  std::mutex mu;
  std::uint64_t next_handle = 1;  // guarded by mu; 0 means "not registered"
  struct Entry {
    std::uint64_t handle;
    std::string name;
    MapRegistry::StatsFn stats;
  };
  std::vector<Entry> entries;  // guarded by mu; registration order
};

RegistryState& state() {
  static RegistryState* s = new RegistryState();  // never destroyed: maps may outlive statics
  return *s;
}

}  // namespace

MapRegistry& MapRegistry::instance() {
  static MapRegistry registry;
  return registry;
}

std::uint64_t MapRegistry::register_map(std::string name, StatsFn stats) {
  RegistryState& s = state();
  std::lock_guard lk(s.mu);
  const std::uint64_t handle = s.next_handle++;
  s.entries.push_back({handle, std::move(name), std::move(stats)});
  return handle;
}

void MapRegistry::unregister(std::uint64_t handle) noexcept {
  RegistryState& s = state();
  std::lock_guard lk(s.mu);
  std::erase_if(s.entries, [handle](const RegistryState::Entry& e) { return e.handle == handle; });
}

std::vector<NamedMapStats> MapRegistry::snapshot() const {
  RegistryState& s = state();
  std::lock_guard lk(s.mu);
  std::vector<NamedMapStats> out;
  out.reserve(s.entries.size());
  for (const RegistryState::Entry& e : s.entries) out.push_back({e.name, e.stats()});
  return out;
}

}  // namespace syncscope::map
