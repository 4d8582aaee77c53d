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
  Registration(const std::string& name, MapRegistry::StatsFn stats) {
    if (!name.empty()) handle_ = MapRegistry::instance().register_map(name, std::move(stats));
  }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;
  ~Registration() {
    if (handle_ != 0) MapRegistry::instance().unregister(handle_);
  }

 private:
  std::uint64_t handle_ = 0;  // 0: not registered
};

}  // namespace syncscope::map::internal
