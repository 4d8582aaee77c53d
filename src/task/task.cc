// Task lifecycle: record creation, the runner, handles, this_task, blocking
// scopes, and spawn_detached.
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <new>
#include <exception>
#include <system_error>
#include <thread>

#include "syncscope/prof/contention_profiler.h"
#include "syncscope/prof/task_labels.h"
#include "syncscope/task/task_registry.h"
#include "syncscope/task/wait.h"
#include "task/deadline_watchdog.h"
#include "task/futex_word.h"
#include "task/record_pool.h"
#include "task/registry_internal.h"
#include "task/stack_capture.h"
#include "task/task_label_cache.h"
#include "task/task_record.h"
#include "task/trace_hooks.h"

namespace syncscope::task {
namespace internal {
namespace {

// The task running on this thread; set by run_task for its duration.
thread_local TaskRecord* tl_current = nullptr;

}  // namespace

TaskRecord* current_task() noexcept { return tl_current; }

void retain_record(TaskRecord* rec) noexcept { retain(*rec); }

void release_record(TaskRecord* rec) noexcept {
  // acq_rel: release publishes this holder's last uses of the record; the
  // acquire on the final decrement sees every other holder's, before the
  // record is destroyed and its memory reused.
  if (rec->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  rec->~TaskRecord();
  give_record_block(rec);
}

TaskInfo snapshot(const TaskRecord& rec) {
  TaskInfo t;
  t.id = rec.id;
  t.parent = rec.parent;
  t.name = rec.name.view();
  t.executor = rec.executor;
  t.site = rec.site;
  t.spawn_stack.assign(rec.stack, rec.stack + rec.stack_depth);
  t.created = to_time_point(rec.created_ns);
  // relaxed loads: each field is an independent fact written by the runner;
  // a query may see a task mid-transition (e.g. started set, state still
  // queued), which is acceptable for diagnostics.
  t.state = rec.state.load(std::memory_order_relaxed);
  t.started = to_time_point(rec.started_ns.load(std::memory_order_relaxed));
  t.finished = to_time_point(rec.finished_ns.load(std::memory_order_relaxed));
  const std::int64_t deadline = rec.deadline_ns.load(std::memory_order_relaxed);
  if (deadline != 0) t.deadline = to_time_point(deadline);
  t.thread_id = rec.tid.load(std::memory_order_relaxed);
  t.deadline_exceeded = rec.deadline_exceeded.load(std::memory_order_relaxed);
  t.stop_requested = rec.stop.stop_requested();
  FutexLockGuard lock(rec.mu);
  if (t.state == TaskState::kBlocked) {
    t.blocking_reason = rec.reason.view();
    t.wait_object = rec.wait_object;
    t.blocked_since = to_time_point(rec.blocked_since_ns);
  }
  return t;
}

TaskRecord* create_task(std::string_view name, std::string_view executor, const std::source_location& site,
                        Job&& job, const SpawnOptions& options, Clock::duration default_deadline,
                        const std::shared_ptr<DeadlineReporter>& reporter, const void* owner) {
  void* block = take_record_block();
  TaskRecord* rec;
  try {
    rec = new (block) TaskRecord(name, executor, site, std::move(job));
  } catch (...) {  // the name's heap copy
    give_record_block(block);
    throw;
  }
  rec->id = next_task_id();
  rec->parent = tl_current != nullptr ? tl_current->id : 0;
  rec->created_ns = now_ns();
  const Clock::duration rel = options.deadline == Clock::duration::zero() ? default_deadline : options.deadline;
  rec->relative_deadline = rel > Clock::duration::zero() ? rel : Clock::duration::zero();
  // Copied only when a deadline may fire: each copy is an atomic increment
  // and decrement on the executor's one reporter, a cache line that the
  // spawner and the workers would otherwise trade for every task.
  if (rec->relative_deadline > Clock::duration::zero()) rec->reporter = reporter;
  rec->owner = owner;
  return rec;
}

std::stop_token stop_token_of(TaskRecord& rec) { return rec.stop.get_token(); }

void run_task(TaskRecord& rec, std::atomic<std::uint64_t>* completed) {
  TaskRecord* const outer = tl_current;
  tl_current = &rec;
  const std::int64_t start = now_ns();
  // relaxed stores: independent facts for queries (see snapshot()).
  rec.tid.store(current_tid(), std::memory_order_relaxed);
  rec.started_ns.store(start, std::memory_order_relaxed);
  rec.state.store(TaskState::kRunning, std::memory_order_relaxed);
  const bool has_deadline = rec.relative_deadline > Clock::duration::zero();
  if (has_deadline) {
    rec.deadline_ns.store(start + std::chrono::nanoseconds(rec.relative_deadline).count(),
                          std::memory_order_relaxed);
    arm_deadline(rec);
  }
  // Labels task/task_site on CPU and contention samples taken while it runs.
  const std::uint32_t outer_label = prof::set_thread_task_label(task_label_for(rec.name.view(), rec.site));
  try {
    rec.job(rec);
  } catch (const std::exception& e) {
    const std::string_view name = rec.name.view();
    std::fprintf(stderr, "syncscope: task %llu \"%.*s\" threw: %s\n", static_cast<unsigned long long>(rec.id),
                 static_cast<int>(name.size()), name.data(), e.what());
  } catch (...) {
    const std::string_view name = rec.name.view();
    std::fprintf(stderr, "syncscope: task %llu \"%.*s\" threw a non-exception\n",
                 static_cast<unsigned long long>(rec.id), static_cast<int>(name.size()), name.data());
  }
  // The closure (and what it captured) is released before the task counts
  // as done, so a joiner never sees a finished task still holding its captures.
  rec.job = nullptr;
  prof::set_thread_task_label(outer_label);
  if (completed != nullptr) completed->fetch_add(1, std::memory_order_relaxed);  // relaxed: statistics
  if (has_deadline) disarm_deadline(rec);
  const std::int64_t finished = now_ns();
  rec.finished_ns.store(finished, std::memory_order_relaxed);
  rec.state.store(TaskState::kDone, std::memory_order_relaxed);
  // The task's slice is written once, now that it has ended (if tracing is
  // on now); while it runs a snapshot draws it from the registry
  // (open_tasks_for_trace). Counted finished, traced, then unlinked: a
  // snapshot's registry walk that no longer finds the task finds its slice
  // in the ring.
  const std::size_t live = count_task_finished();
  if (tracing_on()) trace_task(rec, start, finished, live);
  unlink_task(&rec);
  mark_done(rec);
  tl_current = outer;
}

void abandon_task(TaskRecord& rec) {
  rec.job = nullptr;
  rec.finished_ns.store(now_ns(), std::memory_order_relaxed);  // relaxed: see snapshot()
  rec.state.store(TaskState::kDone, std::memory_order_relaxed);
  unregister_task(&rec);
  mark_done(rec);
}

void mark_done(TaskRecord& rec) noexcept {
  rec.done.store(1, std::memory_order_seq_cst);  // [J1]; see TaskRecord::done
  if (rec.joiners.load(std::memory_order_seq_cst) == 0) return;  // [J2]
  // A joiner that counted itself either sees done before it sleeps, or
  // sleeps on the word while it still reads 0, and this wake finds it (the
  // kernel compares the word and queues the sleeper atomically).
  futex_wake_all(rec.done);
}

BlockingScope blocking_on(std::string_view reason, std::uintptr_t object) noexcept {
  return BlockingScope(reason, reinterpret_cast<const void*>(object));
}

NotifyOnStop::NotifyOnStop(std::condition_variable& cv)
    : callback_(this_task::stop_token(), Notify{&cv}) {}

TaskHandle spawn_detached_impl(std::string_view name, Job&& job, const SpawnOptions& options,
                               const std::source_location& site) {
  TaskRecord* rec =
      create_task(name, "detached", site, std::move(job), options, Clock::duration::zero(), nullptr, nullptr);
  TaskHandle handle = TaskHandle::adopt(rec);          // one of the record's two references
  RecordRef runner = RecordRef::adopt(rec);            // the other, for the thread
  // The spawn stack starts here, in the spawn function (see create_task).
  if (options.capture_stack) rec->stack_depth = capture_spawn_stack(rec->stack, prof::kMaxStackDepth);
  register_task(rec);
  // The spawn's trace mark is at the record's creation: carried by the
  // task's own event (note_traced_spawn), or an event of its own if the
  // thread could not be made.
  const bool traced = tracing_on();
  if (traced) note_traced_spawn(*rec);
  try {
    std::thread t([runner = std::move(runner)]() mutable {
      char thread_name[16] = {};
      runner->name.view().copy(thread_name, sizeof thread_name - 1);
      pthread_setname_np(pthread_self(), thread_name);
      run_task(*runner);
    });
    t.detach();
  } catch (const std::system_error&) {
    // The lambda (and the runner's reference) is gone with the failed thread.
    abandon_task(*rec);
    if (traced) trace_spawn(rec->created_ns, rec->id, rec->name.view());
    return TaskHandle();
  }
  return handle;
}

}  // namespace internal

const char* to_string(TaskState state) noexcept {
  switch (state) {
    case TaskState::kQueued: return "queued";
    case TaskState::kRunning: return "running";
    case TaskState::kBlocked: return "blocked";
    case TaskState::kDone: return "done";
  }
  return "unknown";
}

std::string TaskInfo::site_string() const {
  return std::string(site.file_name()) + ":" + std::to_string(site.line()) + " " + site.function_name();
}

// ---- TaskHandle ----

TaskId TaskHandle::id() const noexcept { return rec_ ? rec_->id : 0; }

bool TaskHandle::done() const noexcept {
  // acquire (seq_cst): pairs with [J1]; the task's effects are visible.
  return rec_ == nullptr || rec_->done.load(std::memory_order_seq_cst) != 0;
}

bool TaskHandle::request_stop() const noexcept {
  if (!rec_ || done()) return false;
  return rec_->stop.request_stop();
}

namespace {

// How long a joiner sleeps on the done word before it re-checks: a wake-up
// cannot be lost (see mark_done), so this only bounds each wait.
constexpr auto kJoinSleepSlice = std::chrono::milliseconds(100);

// Waits until rec.done or `until`; true if done.
bool wait_done(internal::TaskRecord& rec, Clock::time_point until) {
  rec.joiners.fetch_add(1, std::memory_order_seq_cst);  // [J3]
  bool finished = false;
  for (;;) {
    // [J4]: see TaskRecord::done.
    if (rec.done.load(std::memory_order_seq_cst) != 0) {
      finished = true;
      break;
    }
    const Clock::time_point now = Clock::now();
    if (now >= until) break;
    internal::futex_wait_for(rec.done, 0, std::min<Clock::duration>(until - now, kJoinSleepSlice));
  }
  rec.joiners.fetch_sub(1, std::memory_order_relaxed);  // relaxed: a stale count only costs a wake
  return finished;
}

}  // namespace

void TaskHandle::join() const {
  if (!rec_) return;
  auto scope = blocking("join task " + std::string(rec_->name.view()), rec_);
  wait_done(*rec_, Clock::time_point::max());
}

bool TaskHandle::join_for(Clock::duration timeout) const {
  if (!rec_) return true;
  auto scope = blocking("join task " + std::string(rec_->name.view()), rec_);
  const Clock::time_point now = Clock::now();
  const Clock::time_point until = timeout >= Clock::time_point::max() - now ? Clock::time_point::max() : now + timeout;
  return wait_done(*rec_, until);
}

TaskInfo TaskHandle::info() const { return rec_ != nullptr ? internal::snapshot(*rec_) : TaskInfo{}; }

// ---- this_task ----

namespace this_task {
TaskId id() noexcept {
  internal::TaskRecord* r = internal::current_task();
  return r != nullptr ? r->id : 0;
}
std::stop_token stop_token() noexcept {
  internal::TaskRecord* r = internal::current_task();
  // May create the task's stop state (lazy_stop_source.h; terminates if
  // that allocation fails).
  return r != nullptr ? r->stop.get_token() : std::stop_token();
}
bool stop_requested() noexcept {
  internal::TaskRecord* r = internal::current_task();
  return r != nullptr && r->stop.stop_requested();
}
}  // namespace this_task

// ---- BlockingScope ----

BlockingScope::BlockingScope(std::string_view reason, const void* wait_object) noexcept
    : rec_(internal::current_task()), nested_(false), traced_(internal::tracing_on()) {
  if (traced_) internal::trace_block_begin(reason);
  if (rec_ == nullptr) return;
  {
    internal::FutexLockGuard lock(rec_->mu);
    // relaxed: only this thread writes state while the task runs.
    nested_ = rec_->state.load(std::memory_order_relaxed) == TaskState::kBlocked;
    if (nested_) {
      outer_reason_.assign(rec_->reason.view());  // allocates only for a nested reason of 16+ bytes
      outer_object_ = rec_->wait_object;
      outer_since_ns_ = rec_->blocked_since_ns;
    }
    rec_->reason.assign(reason);
    rec_->wait_object = reinterpret_cast<std::uintptr_t>(wait_object);
    rec_->blocked_since_ns = internal::now_ns();
    // Stored under mu so snapshot() sees state and reason together.
    rec_->state.store(TaskState::kBlocked, std::memory_order_relaxed);
  }
}

BlockingScope::~BlockingScope() {
  if (traced_) internal::trace_block_end();
  if (rec_ == nullptr) return;
  std::int64_t waited_ns = 0;  // the whole (outermost) wait, for the block profile
  {
    internal::FutexLockGuard lock(rec_->mu);
    if (nested_) {
      rec_->reason.assign(outer_reason_);
      rec_->wait_object = outer_object_;
      rec_->blocked_since_ns = outer_since_ns_;
    } else {
      waited_ns = internal::now_ns() - rec_->blocked_since_ns;
      rec_->reason.clear();
      rec_->wait_object = 0;
      rec_->blocked_since_ns = 0;
      // relaxed: written under mu, paired with the reason fields (see above).
      rec_->state.store(TaskState::kRunning, std::memory_order_relaxed);
    }
  }
  // /debug/pprof/block: charged to this stack (the wait wrapper's caller).
  if (waited_ns > 0 && prof::contention_profiling_on(prof::ContentionKind::kBlock)) {
    prof::record_contention(prof::ContentionKind::kBlock, waited_ns);
  }
}

}  // namespace syncscope::task
