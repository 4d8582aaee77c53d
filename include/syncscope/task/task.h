// syncscope::task — tracked tasks: every unit of asynchronous work the service
// starts is visible while it lives (where it was spawned, what it waits on,
// how long it has lived), as Go shows goroutines.
//
// Usage:
//
//   #include "syncscope/task/task.h"
//   namespace st = syncscope::task;
//
//   st::Executor pool({.name = "rpc", .workers = 4, .default_deadline = 5s});
//   pool.spawn("fetch user", [&](std::stop_token stop) {
//     std::unique_lock lock(mu);
//     // Annotated wait: the task shows as blocked on "reply from users-db",
//     // the registry records &cv, and the wait ends early if the task is
//     // cancelled or overruns its deadline.
//     st::wait(cv, lock, [&] { return reply_ready; }, "reply from users-db");
//   });
//   st::spawn_detached("flush loop", [] { ... });   // own thread, like `go f()`
//   { auto b = st::blocking("reading socket", &sock); read(sock...); }
//
//   // Diagnosis:
//   for (const auto& g : st::TaskRegistry::instance().resident_by_site(30s))
//     std::cout << g.count << " at " << g.site_string << ": " << g.reasons[0].first;
//   std::cout << st::goroutine_profile_text(1);      // Go's goroutine?debug=1
//   st::start_tracing();                              // flight recorder
//   std::string json = st::trace_snapshot_json(10s);  // last 10 s, Perfetto-readable
//
// Contract:
// - A task is created by Executor::spawn / try_spawn or spawn_detached and is
//   "live" from creation until its function returns (or its queued job is
//   dropped at shutdown). Live tasks appear in TaskRegistry; finished ones
//   vanish from it immediately.
// - Cancellation is cooperative: each task owns a std::stop_source; the task
//   sees it through the std::stop_token parameter (if its function takes
//   one), through this_task::stop_token(), and every wait wrapper in wait.h
//   returns early once stop is requested. Deadlines request stop; they never
//   kill a thread.
// - All functions here are thread-safe.
//
// When not to use: for work items of a few hundred nanoseconds, tracking is
// a large fraction of the cost (see docs/task.md for figures); batch them.
#pragma once

#include "syncscope/task/task_core.h"  // IWYU pragma: export
#include "syncscope/task/executor.h"           // IWYU pragma: export
#include "syncscope/task/goroutine_profile.h"  // IWYU pragma: export
#include "syncscope/task/task_registry.h"      // IWYU pragma: export
#include "syncscope/task/thread_dump.h"        // IWYU pragma: export
#include "syncscope/task/trace.h"              // IWYU pragma: export
#include "syncscope/task/wait.h"               // IWYU pragma: export
