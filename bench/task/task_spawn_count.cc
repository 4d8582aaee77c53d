// Spawns N tracked tasks on a 2-worker executor and waits for them: a fixed
// workload for instruction counts, which stay stable on a loaded machine
// where wall time does not. The per-task cost is the difference of two runs
// divided by the difference of their N (start-up cost cancels):
//
//   valgrind --tool=callgrind --callgrind-out-file=a.out build-bench/bin/task_spawn_count 1000 stack
//   valgrind --tool=callgrind --callgrind-out-file=b.out build-bench/bin/task_spawn_count 11000 stack
//   (Ir(b) - Ir(a)) / 10000
//
// Modes: "nostack" (capture_stack off), "stack" (default options),
// "trace" (stack, tracing on).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "syncscope/task/task.h"

namespace st = syncscope::task;

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1000;
  const std::string_view mode = argc > 2 ? argv[2] : "stack";
  const st::SpawnOptions options{.capture_stack = mode != "nostack"};
  if (mode == "trace") st::start_tracing();
  std::atomic<int> remaining{n};
  {
    st::Executor ex({.name = "count", .workers = 2, .queue_capacity = 1 << 16});
    for (int i = 0; i < n; ++i) {
      ex.spawn("count-task", [&] { remaining.fetch_sub(1, std::memory_order_release); }, options);
    }
  }  // shutdown drains the queue: no spinning, which would add instructions
  if (remaining.load(std::memory_order_acquire) != 0) return 1;
  if (mode == "trace") st::stop_tracing();
  std::printf("%d tasks (%.*s)\n", n, static_cast<int>(mode.size()), mode.data());
  return 0;
}
