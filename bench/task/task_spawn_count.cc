// Runs N tasks on 2 workers and waits for them: a fixed workload for
// instruction counts, which stay stable on a loaded machine where wall time
// does not. The per-task cost is the difference of two runs divided by the
// difference of their N (start-up and ring-growth costs cancel once N is
// past the trace rings' size):
//
//   valgrind --tool=callgrind --callgrind-out-file=a.out build-bench/bin/task_spawn_count 20000 stack
//   valgrind --tool=callgrind --callgrind-out-file=b.out build-bench/bin/task_spawn_count 40000 stack
//   (Ir(b) - Ir(a)) / 20000
//
// Modes: "bare" (BarePool, the baseline), "nostack" (tracked,
// capture_stack off), "stack" (tracked, default options), "trace" (tracked,
// tracing on).
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string_view>

#include "bare_pool.h"
#include "syncscope/task/task.h"

namespace st = syncscope::task;

namespace {

// The last task wakes main: waiting on a condition variable, not spinning,
// adds no instructions per task, and the pool shuts down with no task left
// (shutdown's per-task work would count otherwise).
struct Countdown {
  std::mutex mu;
  std::condition_variable all_done;
  int remaining;  // guarded by mu

  void arrive() {
    std::lock_guard lock(mu);
    if (--remaining == 0) all_done.notify_one();
  }
  bool wait() {
    std::unique_lock lock(mu);
    return all_done.wait_for(lock, std::chrono::seconds(600), [&] { return remaining == 0; });
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1000;
  const std::string_view mode = argc > 2 ? argv[2] : "stack";
  Countdown countdown{.remaining = n};
  Countdown* const c = &countdown;  // one pointer: the job fits its inline storage
  bool finished = false;
  if (mode == "bare") {
    BarePool pool(2);
    for (int i = 0; i < n; ++i) pool.submit([c] { c->arrive(); });
    finished = countdown.wait();
  } else {
    const st::SpawnOptions options{.capture_stack = mode != "nostack"};
    if (mode == "trace") st::start_tracing();
    {
      st::Executor ex({.name = "count", .workers = 2, .queue_capacity = 1 << 16});
      for (int i = 0; i < n; ++i) ex.spawn("count-task", [c] { c->arrive(); }, options);
      finished = countdown.wait();
    }
    if (mode == "trace") st::stop_tracing();
  }
  std::printf("%d tasks (%.*s)\n", n, static_cast<int>(mode.size()), mode.data());
  return finished ? 0 : 1;
}
