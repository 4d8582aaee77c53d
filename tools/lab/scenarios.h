// The lab's scenarios, in the order `all` runs them (DESIGN §6 names), then
// the negative controls: workloads that are no leak and must read so.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "workload.h"

namespace syncscope::lab {

struct ScenarioSpec {
  std::string name;   // command-line name
  std::string title;  // one line
  std::string story;  // what the code does, for the report
  std::function<std::unique_ptr<Workload>()> make;
  // A negative control: run by name only, not by `all` (the lab's story).
  bool control = false;
};

const std::vector<ScenarioSpec>& scenarios();
// nullptr when unknown.
const ScenarioSpec* find_scenario(std::string_view name);

}  // namespace syncscope::lab
