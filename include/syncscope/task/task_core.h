// Core task types: ids, states, the task snapshot, spawn options, handles,
// this_task, and the blocking() scope. Include syncscope/task/task.h (the
// umbrella) in user code; this file exists so the other task headers can
// share these types without including each other in a cycle.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <source_location>
#include <stop_token>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"

namespace syncscope::task {

using TaskId = std::uint64_t;  // 0 is never a task: "no task"
using Clock = std::chrono::steady_clock;

enum class TaskState : std::uint8_t {
  kQueued,   // spawned on an executor, waiting for a worker
  kRunning,  // its function is executing
  kBlocked,  // running, inside a blocking() scope or a wait wrapper
  kDone,     // returned (only ever seen through a TaskHandle)
};
const char* to_string(TaskState state) noexcept;  // "queued", "running", ...

// A consistent copy of one task's record, taken at query time.
struct TaskInfo {
  TaskId id = 0;
  TaskId parent = 0;                // task that spawned it; 0 when a plain thread did
  std::string name;                 // as given to spawn
  std::string executor;             // executor name, or "detached"
  std::source_location site;        // where spawn was called (exact, free)
  std::vector<std::uintptr_t> spawn_stack;  // return addresses at spawn, innermost first
  TaskState state = TaskState::kQueued;
  std::string blocking_reason;      // non-empty only when state == kBlocked
  std::uintptr_t wait_object = 0;   // address waited on (cv, future state, ...); 0 = unknown
  Clock::time_point created{};      // spawn time
  Clock::time_point started{};      // epoch (time_since_epoch()==0) until a worker picks it up
  Clock::time_point finished{};     // epoch until done
  Clock::time_point blocked_since{};  // epoch unless blocked
  Clock::time_point deadline = Clock::time_point::max();  // max() = none
  pid_t thread_id = 0;              // OS thread running it; 0 while queued
  bool stop_requested = false;
  bool deadline_exceeded = false;   // the watchdog cancelled it for overrunning

  // Time since creation (Go's goroutine "age").
  Clock::duration age(Clock::time_point now = Clock::now()) const { return now - created; }
  // "file:line function" of the spawn call.
  std::string site_string() const;
};

struct SpawnOptions {
  // Relative deadline, measured from the moment the task starts running
  // (queueing time does not count). zero = the executor's default; a
  // negative value = no deadline even if the executor has a default.
  Clock::duration deadline = Clock::duration::zero();
  // Record the spawn stack (up to 64 return addresses). A call site that
  // spawns repeatedly from the same frames reuses its stack from a
  // per-thread cache after checking it against the live stack (about 100
  // instructions; a first or changed stack is unwound, ~100s of ns). The
  // site (source_location) is always recorded, exactly.
  bool capture_stack = true;
};

namespace internal {
struct TaskRecord;  // defined in src/task/task_record.h
// What a task's function is called with: its record, from which a function
// that takes a std::stop_token gets one. The record's stop state is created
// only then (or when stop is requested, or this_task::stop_token() asks), so
// a task whose function takes () allocates none (issue 16, item 5).
using Job = absl::AnyInvocable<void(TaskRecord&)>;
// The task's stop token, creating its stop state if this is the first ask.
std::stop_token stop_token_of(TaskRecord& rec);
// Reference counting of records (intrusive; TaskHandle holds one).
void retain_record(TaskRecord* rec) noexcept;
void release_record(TaskRecord* rec) noexcept;

// Adapts f() or f(std::stop_token) to a Job.
template <class F>
Job make_job(F&& f) {
  using Fn = std::decay_t<F>;
  if constexpr (std::is_invocable_v<Fn&, std::stop_token>) {
    return Job([fn = Fn(std::forward<F>(f))](TaskRecord& rec) mutable { fn(stop_token_of(rec)); });
  } else {
    static_assert(std::is_invocable_v<Fn&>, "a task function takes () or (std::stop_token)");
    return Job([fn = Fn(std::forward<F>(f))](TaskRecord&) mutable { fn(); });
  }
}
}  // namespace internal

// Shared reference to one task. Cheap to copy; keeps the record (not the
// task) alive. A default-constructed or failed-spawn handle is !valid().
class TaskHandle {
 public:
  TaskHandle() = default;
  TaskHandle(const TaskHandle& other) noexcept : rec_(other.rec_) {
    if (rec_ != nullptr) internal::retain_record(rec_);
  }
  TaskHandle(TaskHandle&& other) noexcept : rec_(std::exchange(other.rec_, nullptr)) {}
  TaskHandle& operator=(TaskHandle other) noexcept {
    std::swap(rec_, other.rec_);
    return *this;
  }
  ~TaskHandle() {
    if (rec_ != nullptr) internal::release_record(rec_);
  }
  // Takes over one reference that the caller holds on `rec` (runtime use).
  static TaskHandle adopt(internal::TaskRecord* rec) noexcept {
    TaskHandle h;
    h.rec_ = rec;
    return h;
  }

  bool valid() const noexcept { return rec_ != nullptr; }
  TaskId id() const noexcept;
  bool done() const noexcept;
  // Cooperative cancellation; returns false if already requested or done.
  bool request_stop() const noexcept;
  // Blocks until the task finishes (annotated as blocking when the caller is
  // itself a task). join_for returns false on timeout.
  void join() const;
  bool join_for(Clock::duration timeout) const;
  TaskInfo info() const;

 private:
  internal::TaskRecord* rec_ = nullptr;  // one reference counted in the record, or null
};

namespace internal {
TaskHandle spawn_detached_impl(std::string_view name, Job&& job, const SpawnOptions& options,
                               const std::source_location& site);
}  // namespace internal

// Runs f on a new thread of its own (the C++ `go f()`), tracked like an
// executor task. f takes () or (std::stop_token). Never blocks the caller
// beyond thread creation; returns an invalid handle if the thread cannot be
// created.
template <class F>
TaskHandle spawn_detached(std::string_view name, F&& f, SpawnOptions options = {},
                          std::source_location site = std::source_location::current()) {
  return internal::spawn_detached_impl(name, internal::make_job(std::forward<F>(f)), options, site);
}

// Inside a task: its identity and cancellation. Outside any task: id() == 0
// and the stop token can never be stopped.
namespace this_task {
TaskId id() noexcept;
std::stop_token stop_token() noexcept;
bool stop_requested() noexcept;
}  // namespace this_task

// RAII: marks the current task blocked for the scope's lifetime with a
// human-readable reason and, when known, the address of the object it waits
// on (the retention scanner checks whether anything can still reach it).
// Scopes nest; the outer reason is restored on exit. Outside a task only the
// trace (if on) records the interval. The reason is copied.
class [[nodiscard]] BlockingScope {
 public:
  explicit BlockingScope(std::string_view reason, const void* wait_object = nullptr) noexcept;
  ~BlockingScope();
  BlockingScope(const BlockingScope&) = delete;
  BlockingScope& operator=(const BlockingScope&) = delete;

 private:
  internal::TaskRecord* rec_;     // the current task's record, or nullptr
  bool nested_;                   // an outer scope was active: restore it
  std::string outer_reason_;      // valid when nested_
  std::uintptr_t outer_object_ = 0;
  std::int64_t outer_since_ns_ = 0;
  bool traced_;                   // a trace begin event was written
};

inline BlockingScope blocking(std::string_view reason, const void* wait_object = nullptr) noexcept {
  return BlockingScope(reason, wait_object);
}

}  // namespace syncscope::task

