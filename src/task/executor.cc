// Executor: N workers popping a bounded FIFO of task records under one mutex.
// One mutex is enough here: a push/pop holds it for a few dozen ns, far less
// than the tracked-task overhead it is paired with.
#include "syncscope/task/executor.h"

#include <pthread.h>

#include <algorithm>
#include <condition_variable>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "common/annotated_mutex.h"
#include "task/executor_names.h"
#include "task/fifo_ring.h"
#include "task/registry_internal.h"
#include "task/stack_capture.h"
#include "task/task_record.h"
#include "task/trace_hooks.h"
#include "syncscope/task/task_registry.h"

namespace syncscope::task {

struct Executor::State {
  ~State() {
    // Workers drain the queue before they exit, so it is empty here unless
    // the executor never started one; abandon what is left.
    common::MutexLock lock(mu);
    while (!queue.empty()) {
      internal::TaskRecord* rec = queue.front();
      queue.pop_front();
      internal::abandon_task(*rec);
      internal::release_record(rec);
    }
  }

  ExecutorOptions options;  // immutable after construction
  std::string_view interned_name;  // options.name, interned (records point at it)
  std::shared_ptr<internal::DeadlineReporter> reporter = std::make_shared<internal::DeadlineReporter>();

  common::Mutex mu;
  std::condition_variable not_empty;  // queue gained an item, or stopping
  std::condition_variable not_full;   // queue lost an item, or stopping
  // Each queued record carries its job and one reference (the runner's),
  // which the worker releases after running it.
  internal::FifoRing<internal::TaskRecord*> queue ABSL_GUARDED_BY(mu);  // size <= options.queue_capacity
  bool stopping ABSL_GUARDED_BY(mu) = false;           // set once by shutdown()
  std::size_t running ABSL_GUARDED_BY(mu) = 0;         // workers inside run_task
  // Threads inside not_empty.wait (workers) and not_full.wait (spawners):
  // a notify goes out only when one may sleep, so a busy pool signals no
  // condition variable per task (each signal is a call into the pthread
  // library even with nobody waiting).
  std::size_t idle_workers ABSL_GUARDED_BY(mu) = 0;
  std::size_t waiting_spawners ABSL_GUARDED_BY(mu) = 0;
  std::size_t exited_workers ABSL_GUARDED_BY(mu) = 0;
  std::condition_variable worker_exit;  // exited_workers changed
  std::vector<std::thread> workers;   // touched only by the constructor and shutdown()
  common::Mutex shutdown_mu;
  bool shut_down ABSL_GUARDED_BY(shutdown_mu) = false;  // touched only by shutdown()
  std::size_t detached ABSL_GUARDED_BY(shutdown_mu) = 0;

  // Statistics. `spawned` is counted under mu, which the spawn holds
  // anyway; `completed` (written by the workers, relaxed: it publishes
  // nothing) has a cache line of its own, so that the spawner's writes and
  // the workers' do not trade one line per task.
  std::uint64_t spawned ABSL_GUARDED_BY(mu) = 0;
  alignas(64) std::atomic<std::uint64_t> completed{0};
  std::atomic<std::uint64_t> rejected{0};  // relaxed: statistics (refusals only)
};

namespace {

void worker_loop(const std::shared_ptr<Executor::State>& s) {
  Executor::State& st = *s;
  common::UniqueLock lock(st.mu);
  for (;;) {
    if (!st.stopping && st.queue.empty()) {
      ++st.idle_workers;
      st.not_empty.wait(lock.std_lock(),
                        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(st.mu) { return st.stopping || !st.queue.empty(); });
      --st.idle_workers;
    }
    if (st.queue.empty()) break;  // stopping and drained
    internal::TaskRecord* const rec = st.queue.front();
    st.queue.pop_front();
    ++st.running;
    const bool spawner_waits = st.waiting_spawners != 0;
    lock.unlock();
    if (spawner_waits) st.not_full.notify_one();
    internal::run_task(*rec, &st.completed);
    internal::release_record(rec);
    lock.lock();
    --st.running;
  }
  ++st.exited_workers;
  lock.unlock();
  st.worker_exit.notify_all();
}

}  // namespace

Executor::Executor(ExecutorOptions options) : state_(std::make_shared<State>()) {
  if (options.workers == 0) options.workers = std::max(1u, std::thread::hardware_concurrency());
  options.queue_capacity = std::max<std::size_t>(1, options.queue_capacity);
  state_->reporter->on_exceeded = options.on_deadline_exceeded;
  state_->interned_name = internal::intern_executor_name(options.name);
  state_->options = std::move(options);
  for (unsigned i = 0; i < state_->options.workers; ++i) {
    std::shared_ptr<State> s = state_;
    state_->workers.emplace_back([s] { worker_loop(s); });
    char name[16] = {};
    const std::string label = state_->options.name.substr(0, 10) + "-" + std::to_string(i);
    label.copy(name, sizeof name - 1);
    pthread_setname_np(state_->workers.back().native_handle(), name);
  }
}

Executor::~Executor() { shutdown(); }

const std::string& Executor::name() const noexcept { return state_->options.name; }

TaskHandle Executor::spawn_job(std::string_view name, internal::Job&& job, const SpawnOptions& options,
                               const std::source_location& site, bool may_block) {
  State& s = *state_;
  // Created before taking mu: stack capture and allocation stay out of the
  // queue's critical section, which workers contend for. A task refused
  // below (full or shut down) is abandoned again; while the spawner waits
  // for room it is visible as queued.
  internal::TaskRecord* const rec = internal::create_task(name, s.interned_name, site, std::move(job), options,
                                                         s.options.default_deadline, s.reporter, &s);
  TaskHandle handle = TaskHandle::adopt(rec);  // one of the record's two references; the queue gets the other
  // The spawn stack starts here, in the spawn function (see create_task).
  if (options.capture_stack) {
    rec->stack_depth = internal::capture_spawn_stack(rec->stack, prof::kMaxStackDepth);
  }
  internal::register_task(rec);
  // The spawn's trace mark is at the record's creation. Usually no event:
  // the task's own event carries the mark (note_traced_spawn); a spawn that
  // waits for room writes its slice's begin before the wait, so the wait's
  // slice nests inside, and its end after; a refused spawn writes its mark.
  const bool traced = internal::tracing_on();
  if (traced) internal::note_traced_spawn(*rec);
  bool spawn_slice_open = false;  // trace_spawn_begin was written
  auto trace_spawn_done = [&](bool refused) {
    if (!traced) return;
    if (spawn_slice_open) internal::trace_spawn_end();
    else if (refused) internal::trace_spawn(rec->created_ns, rec->id, rec->name.view());
  };
  // Called with mu released.
  auto refuse = [&]() {
    s.rejected.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistics
    internal::abandon_task(*rec);
    trace_spawn_done(true);
    internal::release_record(rec);  // the queue's reference
    return TaskHandle();
  };
  common::UniqueLock lock(s.mu);
  if (!s.stopping && s.queue.size() >= s.options.queue_capacity) {
    if (!may_block) {
      lock.unlock();
      return refuse();
    }
    if (traced) {
      internal::trace_spawn_begin(rec->created_ns, rec->id, rec->name.view());
      spawn_slice_open = true;
    }
    auto scope = blocking("executor queue full: " + s.options.name, &s.queue);
    ++s.waiting_spawners;
    s.not_full.wait(lock.std_lock(), [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
      return s.stopping || s.queue.size() < s.options.queue_capacity;
    });
    --s.waiting_spawners;
  }
  if (s.stopping) {
    lock.unlock();
    return refuse();
  }
  try {
    s.queue.push_back(static_cast<internal::TaskRecord*>(rec));
  } catch (...) {  // the queue could not grow: the task is dropped as refused, and the caller sees why
    lock.unlock();
    refuse();
    throw;
  }
  ++s.spawned;
  const bool worker_idle = s.idle_workers != 0;
  lock.unlock();
  if (worker_idle) s.not_empty.notify_one();
  trace_spawn_done(false);
  return handle;
}

std::size_t Executor::shutdown() {
  State& s = *state_;
  common::MutexLock guard(s.shutdown_mu);
  if (s.shut_down) return s.detached;
  s.shut_down = true;
  {
    common::MutexLock lock(s.mu);
    s.stopping = true;
  }
  s.not_empty.notify_all();
  s.not_full.notify_all();
  // Ask every task of this executor (running or queued) to stop; outside
  // the registry's locks, since stop callbacks run synchronously.
  std::vector<std::stop_source> sources;
  internal::for_each_live([&](internal::TaskRecord& r) {
    if (r.owner == &s) sources.push_back(r.stop.shared_source());
  });
  for (std::stop_source& src : sources) src.request_stop();
  bool all_exited = false;
  {
    common::UniqueLock lock(s.mu);
    all_exited = s.worker_exit.wait_for(lock.std_lock(), s.options.shutdown_grace,
                                        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
                                          return s.exited_workers == s.workers.size();
                                        });
  }
  for (std::thread& w : s.workers) {
    if (all_exited) w.join();
    else w.detach();  // a stuck worker keeps State alive through its shared_ptr
  }
  if (!all_exited) {
    common::MutexLock lock(s.mu);
    s.detached = s.workers.size() - s.exited_workers;
  }
  return s.detached;
}

ExecutorStats Executor::stats() const {
  State& s = *state_;
  ExecutorStats st;
  // relaxed loads: statistics.
  st.completed = s.completed.load(std::memory_order_relaxed);
  st.rejected = s.rejected.load(std::memory_order_relaxed);
  st.deadline_exceeded = s.reporter->exceeded.load(std::memory_order_relaxed);
  {
    common::MutexLock lock(s.mu);
    st.spawned = s.spawned;
    st.queued = s.queue.size();
    st.running = s.running;
  }
  {
    common::MutexLock lock(s.shutdown_mu);
    st.detached_workers = s.detached;
  }
  return st;
}

}  // namespace syncscope::task
