// Two tasks blocked on promises, for the tests of leaked-task detection
// (retain's own and the debug server's): one whose promise only an
// unreachable self-cycle holds, so it can never be woken (a leaked task), and
// one whose promise belongs to an object reachable from a global (not
// leaked). Header-only; the including test links syncscope::task.
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <source_location>
#include <string>
#include <string_view>
#include <thread>

#include "syncscope/task/task.h"
#include "syncscope/task/task_registry.h"

namespace syncscope::test_support {

// The promise's owner keeps itself alive through a cycle: when the last
// outside reference is dropped, nothing reaches the promise any more, yet it
// is never destroyed, so the future never becomes ready (not even broken).
struct CyclicOwner {
  std::promise<int> promise;
  std::shared_ptr<CyclicOwner> self;
};

// Held through a global of the test's own (a root the heap walk sees).
struct KeptOwner {
  std::promise<int> promise;
};

// Whether the live task named `name` is blocked on an object, polled once a
// millisecond for at most 2 s.
inline bool wait_blocked(const std::string& name) {
  for (int i = 0; i < 2000; ++i) {
    for (const task::TaskInfo& t : task::TaskRegistry::instance().live_tasks()) {
      if (t.name == name && t.state == task::TaskState::kBlocked && t.wait_object != 0) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

struct WaitingTasks {
  task::TaskHandle leaky;  // waits on "reply that never comes"
  task::TaskHandle kept;   // waits on "reply" from *kept_global
};

// Spawns both tasks (their spawn site is the caller's) from a helper thread,
// so the caller's stack never holds the owners, and stores the kept owner in
// `kept_global`. The caller checks wait_blocked on both names, then ends them
// with end_waiting_tasks.
inline WaitingTasks spawn_waiting_tasks(std::string_view leaky_name, std::string_view kept_name,
                                        KeptOwner* volatile& kept_global,
                                        std::source_location site = std::source_location::current()) {
  WaitingTasks w;
  std::thread([&] {
    auto owner = std::make_shared<CyclicOwner>();
    owner->self = owner;
    std::future<int> lost = owner->promise.get_future();
    owner.reset();
    w.leaky = task::spawn_detached(
        leaky_name, [f = std::move(lost)] { task::wait(f, "reply that never comes"); }, {}, site);
    kept_global = new KeptOwner();
    std::future<int> held = kept_global->promise.get_future();
    w.kept = task::spawn_detached(kept_name, [f = std::move(held)] { task::wait(f, "reply"); }, {}, site);
  }).join();
  return w;
}

// The kept task completes normally, the leaked one is cancelled; true when
// both ended within 10 s each.
inline bool end_waiting_tasks(WaitingTasks& w, KeptOwner* kept_global) {
  kept_global->promise.set_value(1);
  const bool kept_ended = w.kept.join_for(std::chrono::seconds(10));
  const bool stop_requested = w.leaky.request_stop();
  const bool leaky_ended = w.leaky.join_for(std::chrono::seconds(10));
  return kept_ended && stop_requested && leaky_ended;
}

}  // namespace syncscope::test_support
