// The profiler label (task name, spawn site) of a task, looked up per worker
// thread without building the site string or taking the label table's lock.
//
// prof::intern_task_label() formats nothing itself but needs the site as
// "file:line function" and locks a global map: about a third of a tracked
// task's cost when done for every task. Interned ids never change and the
// table never shrinks (a pair refused when it is full stays refused), so a
// per-thread memo of recent (name, site) -> id answers exactly what the
// table would.
#pragma once

#include <cstdint>
#include <source_location>
#include <string_view>

namespace syncscope::task::internal {

// Same id as prof::intern_task_label(name, "file:line function" of site).
// Calling thread only; allocates on a miss (the memo's copy of the name).
std::uint32_t task_label_for(std::string_view name, const std::source_location& site);

}  // namespace syncscope::task::internal
