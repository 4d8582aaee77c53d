// Which task a thread is running, for the labels `task` and `task_site` on
// CPU, contention and heap samples (Go's profiler labels; `go tool pprof
// -tagfocus=task=NAME`). The task part sets it around every task it runs;
// prof reads it when it records a sample, in a signal handler or an
// allocation hook's sampled path included.
//
// Contract
//   - intern_task_label() maps (task name, spawn site) to a small id, at most
//     kMaxTaskLabels distinct pairs (later ones get 0: unlabelled). It
//     allocates: call it where that is fine (task start), never in a handler.
//   - set_thread_task_label() (calling thread) and thread_task_label(tid)
//     are lock-free and async-signal-safe: one table slot per tid (tid modulo
//     kThreadLabelSlots) holding tid and id together, so a slot shared by two
//     threads yields "unlabelled", never another thread's label. They
//     allocate nothing (the hook core holds them: thread_task_label.cc).
//
// When not to use: for arbitrary key/value labels; only the task pair.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "syncscope/prof/profile_builder.h"

namespace syncscope::prof {

inline constexpr std::size_t kMaxTaskLabels = 4096;
inline constexpr std::size_t kThreadLabelSlots = 4096;

std::uint32_t intern_task_label(std::string_view task, std::string_view site);
// 0 clears. Returns the calling thread's previous label (for nesting).
std::uint32_t set_thread_task_label(std::uint32_t label) noexcept;
std::uint32_t thread_task_label(pid_t tid) noexcept;
// The calling thread's label: thread_task_label of its own tid, which is
// asked of the kernel only at the thread's first call (and again in a fork
// child). Async-signal-safe, like the two above.
std::uint32_t this_thread_task_label() noexcept;
// The pair behind `label`; false for 0 or an unknown id.
bool task_label_strings(std::uint32_t label, std::string* task, std::string* site);
// The pprof sample labels for `label`: {task=NAME, task_site=SITE}, or none.
std::vector<SampleLabel> task_sample_labels(std::uint32_t label);

}  // namespace syncscope::prof
