// Shared helpers for the task tests: a gate tasks can block on, and a
// bounded poll for conditions that become true asynchronously.
#pragma once

#include "support/go_pprof.h"

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "syncscope/task/task.h"

namespace syncscope::task::test {

// Tasks block on it (through the annotated wait wrapper) until open().
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool is_open = false;

  // Returns false if the task was cancelled first.
  bool wait(std::string_view reason) {
    std::unique_lock lock(mu);
    return task::wait(cv, lock, [&] { return is_open; }, reason);
  }
  void open() {
    {
      std::lock_guard lock(mu);
      is_open = true;
    }
    cv.notify_all();
  }
};

// Polls `pred` every millisecond for at most `limit`.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return pred();
}

// Number of live tasks whose name is `name` and that are blocked.
inline std::size_t blocked_named(const std::string& name) {
  std::size_t n = 0;
  for (const TaskInfo& t : TaskRegistry::instance().live_tasks()) {
    n += t.name == name && t.state == TaskState::kBlocked ? 1 : 0;
  }
  return n;
}

// Scratch directories and `go tool pprof` come from tests/support/ (one
// implementation for every test that drives the real client).
using ::syncscope::test_support::go_pprof;
using ::syncscope::test_support::ScratchDir;

}  // namespace syncscope::task::test
