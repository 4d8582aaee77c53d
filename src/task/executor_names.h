// Executor names as records hold them: interned once per executor, so a
// record keeps a string_view instead of copying the name per spawn.
//
// Contract: intern_executor_name(name) returns a view of an immortal copy
// of `name`; equal names share one copy. Thread-safe (a mutex; called when
// an executor is constructed, never per task).
//
// Cost: each distinct name is kept for the life of the process (executors
// named uniquely in a loop would grow the table by one string each).
#pragma once

#include <string_view>

namespace syncscope::task::internal {

std::string_view intern_executor_name(std::string_view name);

}  // namespace syncscope::task::internal
