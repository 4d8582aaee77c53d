// The live record behind every tracked task, shared by the registry (which
// lists it), the runner (which updates it), handles (which observe it) and
// the deadline watchdog (which may cancel it).
//
// Field discipline:
// - "immutable": written once before the record is published to the
//   registry (publication: register_task's release push [A1], acquired by
//   the shard lock holder that drains it); read freely after.
// - atomics: written by the thread running the task (and the watchdog for
//   deadline_exceeded), read by any query; each is a standalone fact, so
//   relaxed loads/stores suffice except where noted.
// - mu: guards the blocking reason / wait object / blocked_since triple,
//   which must be read together.
// - refs: an intrusive count (RecordRef, TaskHandle); the last release
//   destroys the record and gives its memory back to the record pool.
//
// Why no std::shared_ptr, no std::condition_variable and no string built per
// spawn (issue 16, item 5): a tracked task paid for a control block and its virtual
// dispose, a condition variable constructed and destroyed per task for
// joins that rarely happen, and two strings built per spawn. Joiners now
// sleep on the `done` word itself (futex_word.h); the name is copied inline
// (heap only beyond kInlineName bytes); the executor's name is interned
// once per executor (executor_names.h).
#pragma once

#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <source_location>
#include <stop_token>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "syncscope/prof/stack_trace.h"
#include "syncscope/task/task_core.h"
#include "task/futex_lock.h"
#include "task/lazy_stop_source.h"
#include "task/short_copy.h"

namespace syncscope::task::internal {

// Where deadline overruns of one executor are counted and reported. Shared
// by the executor and its tasks' records (a record may outlive the executor).
struct DeadlineReporter {
  std::function<void(const TaskInfo&)> on_exceeded;  // immutable after creation
  std::atomic<std::uint64_t> exceeded{0};            // counter only
};

// steady_clock's reading in nanoseconds since its epoch. libstdc++'s
// steady_clock is CLOCK_MONOTONIC on Linux; reading it directly skips the
// library's out-of-line now() (three reads per tracked task).
inline std::int64_t now_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
inline Clock::time_point to_time_point(std::int64_t ns) {
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::nanoseconds(ns)));
}

// The reason a blocked task gives (BlockingScope), held in the record: a
// wait allocates nothing (BlockingScope is noexcept and on every wait's
// path), and no heap block of a reused chunk carries stale bytes beside a
// short reason (a string of 16-30 bytes gets a 31-byte block whose tail is
// the chunk's old content, which the conservative retention scan reads: in
// the lab, a freed value's pointer to a payload at the same place made a
// path through the reason). A reason longer than kCapacity bytes is cut at
// a UTF-8 character boundary.
class ReasonText {
 public:
  static constexpr std::size_t kCapacity = 95;

  void assign(std::string_view text) noexcept {
    std::size_t n = text.size();
    if (n > kCapacity) {
      n = kCapacity;
      while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xc0) == 0x80) --n;  // not inside a character
    }
    copy_short(text_, text.data(), n);
    size_ = static_cast<std::uint8_t>(n);
  }
  void clear() noexcept { size_ = 0; }
  std::string_view view() const noexcept { return {text_, size_}; }

 private:
  std::uint8_t size_ = 0;    // bytes of text_ in use
  char text_[kCapacity];     // [size_, kCapacity) unspecified
};
static_assert(ReasonText::kCapacity <= 255, "size_ is one byte");

// A task's name, copied at the spawn: inline up to kInlineName bytes (no
// allocation for the usual short literal), else into one heap block.
class RecordName {
 public:
  static constexpr std::size_t kInlineName = 47;

  explicit RecordName(std::string_view name) : size_(static_cast<std::uint32_t>(name.size())) {
    char* dst = inline_;
    if (name.size() > kInlineName) [[unlikely]] dst = heap_ = static_cast<char*>(::operator new(name.size()));
    copy_short(dst, name.data(), name.size());
  }
  ~RecordName() {
    if (heap_ != nullptr) ::operator delete(heap_);
  }
  RecordName(const RecordName&) = delete;
  RecordName& operator=(const RecordName&) = delete;

  std::string_view view() const noexcept { return {heap_ != nullptr ? heap_ : inline_, size_}; }
  // The name's first bytes with at least kInlineName + 1 bytes readable
  // after the pointer (those past size() unspecified): the trace copies a
  // name's leading bytes as whole words (trace_task).
  const char* padded_data() const noexcept { return heap_ != nullptr ? heap_ : inline_; }

 private:
  char* heap_ = nullptr;    // the copy when size_ > kInlineName, else null
  std::uint32_t size_;      // bytes of the name
  char inline_[kInlineName + 1];  // the copy when size_ <= kInlineName; [size_, ...) unwritten
};

struct TaskRecord {
  // User-provided, so that the record is not zeroed first: `stack` is
  // written by the capture and read only in [0, stack_depth).
  // The immutable fields without an initializer here (id, parent,
  // created_ns, relative_deadline, owner) are written by create_task before
  // anything reads them: one store each instead of two.
  TaskRecord(std::string_view task_name, std::string_view executor_name, const std::source_location& at,
             Job&& task_job)
      : name(task_name), executor(executor_name), site(at), job(std::move(task_job)) {}

  // --- references: RecordRef / TaskHandle; see retain_record ---
  // Starts at 2: the creator's (handed to the runner: the executor's queue
  // or the detached thread) and the spawn's TaskHandle's.
  std::atomic<std::uint32_t> refs{2};

  // --- immutable ---
  TaskId id;
  TaskId parent;
  RecordName name;
  std::string_view executor;  // interned (executor_names.h) or a literal: never freed
  std::source_location site;
  std::int64_t created_ns;
  Clock::duration relative_deadline;    // <= 0: none; armed when the task starts
  std::shared_ptr<DeadlineReporter> reporter;  // may be null (detached tasks)
  const void* owner;                    // the Executor::State that runs it; null for detached
  int stack_depth = 0;                  // of `stack`, at the record's end

  // The task's function. Set at creation; called and then destroyed
  // (before the task counts as done) by the runner alone, which receives
  // the record through the executor queue's mutex or the thread's start.
  Job job;

  // Thread-safe by itself. Its std::stop_source state is created on first
  // need (lazy_stop_source.h): a task whose function takes () and that never
  // asks for its token or is asked to stop allocates none.
  LazyStopSource stop;

  // --- atomics (relaxed unless noted: independent facts, no payload) ---
  std::atomic<TaskState> state{TaskState::kQueued};
  std::atomic<std::int64_t> started_ns{0};
  std::atomic<std::int64_t> finished_ns{0};
  std::atomic<std::int64_t> deadline_ns{0};  // 0 = none
  std::atomic<pid_t> tid{0};
  std::atomic<bool> deadline_exceeded{false};
  // Set by a spawn made while tracing is on (note_traced_spawn): the
  // spawner's thread and the live count after the spawn. The task's trace
  // event, written when it ends, carries them, so the spawn itself writes
  // no event (trace_hooks.h). 0 = no spawn mark to draw.
  std::atomic<pid_t> spawner_tid{0};
  std::atomic<std::uint32_t> spawn_live{0};

  // --- the blocking facts, written and read together under mu ---
  mutable FutexLock mu;
  ReasonText reason ABSL_GUARDED_BY(mu);  // empty unless blocked
  std::uintptr_t wait_object ABSL_GUARDED_BY(mu) = 0;
  std::int64_t blocked_since_ns ABSL_GUARDED_BY(mu) = 0;

  // --- completion (see mark_done and TaskHandle::join) ---
  // 0, then 1 once the function returned and the record was unregistered;
  // a futex word that joiners sleep on. seq_cst store [J1] / seq_cst loads
  // [J4]: with `joiners` a store-then-load pair on each side, so either the
  // runner sees a joiner and wakes the word, or the joiner sees done; also
  // a release/acquire for done().
  std::atomic<std::uint32_t> done{0};
  // Joiners inside join/join_for: incremented [J3] before they test done,
  // decremented after. Read by the runner [J2] (seq_cst).
  std::atomic<int> joiners{0};

  // --- registry links: written by register_task before it pushes the record
  // onto its shard's arrivals (a release, [A1] in task_registry.cc), then
  // guarded by that shard's lock ---
  TaskRecord* prev = nullptr;
  TaskRecord* next = nullptr;

  // --- immutable: the spawn stack, [0, stack_depth) ---
  // Last, so that the fields every task writes and reads share as few cache
  // lines as they can (the record travels from the spawner's core to the
  // worker's and, recycled, back): the array is 512 bytes of which a spawn
  // uses the first few words.
  std::uintptr_t stack[prof::kMaxStackDepth];
};

// References. retain: relaxed (a new reference is made from an existing
// one, which keeps the record alive meanwhile; it publishes nothing).
// release: see release_record in task.cc. Declared in task_core.h.
inline void retain(TaskRecord& rec) noexcept { rec.refs.fetch_add(1, std::memory_order_relaxed); }

// An owning reference (one count of `refs`) for the runtime's own holders.
class RecordRef {
 public:
  RecordRef() = default;
  // Takes over a reference the caller holds.
  static RecordRef adopt(TaskRecord* rec) noexcept {
    RecordRef r;
    r.rec_ = rec;
    return r;
  }
  RecordRef(const RecordRef& o) noexcept : rec_(o.rec_) {
    if (rec_ != nullptr) retain(*rec_);
  }
  RecordRef(RecordRef&& o) noexcept : rec_(o.rec_) { o.rec_ = nullptr; }
  RecordRef& operator=(RecordRef o) noexcept {
    std::swap(rec_, o.rec_);
    return *this;
  }
  ~RecordRef() {
    if (rec_ != nullptr) release_record(rec_);
  }
  TaskRecord* get() const noexcept { return rec_; }
  TaskRecord* operator->() const noexcept { return rec_; }
  TaskRecord& operator*() const noexcept { return *rec_; }
  explicit operator bool() const noexcept { return rec_ != nullptr; }
  // Gives up the reference without releasing it.
  TaskRecord* leak() noexcept {
    TaskRecord* r = rec_;
    rec_ = nullptr;
    return r;
  }

 private:
  TaskRecord* rec_ = nullptr;
};

// Marks the task done and wakes its joiners: no lock unless one is waiting.
void mark_done(TaskRecord& rec) noexcept;

// A consistent copy of the record's observable state.
TaskInfo snapshot(const TaskRecord& rec);

// The record of the task running on this thread (nullptr outside tasks).
TaskRecord* current_task() noexcept;

// Creates a record (state queued, two references: see TaskRecord::refs)
// holding `job`, without a spawn stack and without registering it: the
// spawn function captures its own stack into it (capture_spawn_stack) and
// then publishes it with register_task, so the capture starts in the spawn
// function's frame and unwinds no frame of ours. The record's memory comes
// from the record pool (record_pool.h); the retention analysis recognizes
// record blocks by this function's name on their allocation stack
// (src/retain/leaked_tasks.cc), so it stays a function of its own. The
// reporter is kept only when the task has a deadline (only the deadline
// watchdog reads it).
[[gnu::noinline]] TaskRecord* create_task(std::string_view name, std::string_view executor,
                                          const std::source_location& site, Job&& job,
                                          const SpawnOptions& options, Clock::duration default_deadline,
                                          const std::shared_ptr<DeadlineReporter>& reporter,
                                          const void* owner);

// Runs the record's job as the task on the calling thread: state
// transitions, deadline arming, trace slice; then destroys the job, bumps
// *completed (if given), unregisters the record and wakes joiners — in that
// order. The caller keeps its reference to the record throughout.
void run_task(TaskRecord& rec, std::atomic<std::uint64_t>* completed = nullptr);

// Drops a task that will never run (refused spawn, executor shut down
// before it started): destroys its job, unregisters it, wakes joiners.
void abandon_task(TaskRecord& rec);

// The calling thread's kernel id, read once per thread (inline: the spawn
// and the runner read it per task).
inline pid_t current_tid() noexcept {
  thread_local pid_t tid = 0;  // 0 until first asked; a thread's tid never changes
  if (tid == 0) [[unlikely]] tid = static_cast<pid_t>(::syscall(SYS_gettid));
  return tid;
}

}  // namespace syncscope::task::internal
