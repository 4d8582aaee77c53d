// RAII registration of a map in MapRegistry under MapOptions::name.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "syncscope/map/map_registry.h"

namespace syncscope::map::internal {

class Registration {
 public:
  Registration() = default;
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;
  ~Registration() { detach(); }

  // Registers `stats` under `name`; an empty name registers nothing.
  void attach(const std::string& name, MapRegistry::StatsFn stats) {
    detach();
    if (!name.empty()) handle_ = MapRegistry::instance().register_map(name, std::move(stats));
  }

  // Unregisters (waits for a running MapRegistry::snapshot()). Idempotent.
  void detach() noexcept {
    if (handle_ != 0) MapRegistry::instance().unregister(handle_);
    handle_ = 0;
  }

 private:
  std::uint64_t handle_ = 0;  // 0: not registered
};

}  // namespace syncscope::map::internal
