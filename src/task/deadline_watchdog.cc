// The deadline watchdog: an ordered set of (deadline, id) plus the records,
// under one mutex; the thread sleeps until the earliest deadline or a change.
#include "task/deadline_watchdog.h"

#include <pthread.h>

#include <condition_variable>
#include <map>
#include <set>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "common/annotated_mutex.h"
#include "syncscope/task/trace.h"

namespace syncscope::task::internal {
namespace {

class Watchdog {
 public:
  void arm(TaskRecord& rec) {
    // relaxed: deadline_ns is written by this same thread (the runner) just before.
    const std::int64_t when = rec.deadline_ns.load(std::memory_order_relaxed);
    common::MutexLock lock(mu_);
    if (!thread_.joinable()) {
      thread_ = std::thread([this] { loop(); });
      pthread_setname_np(thread_.native_handle(), "ss-deadlines");
    }
    const bool earliest = queue_.empty() || when < queue_.begin()->first;
    retain(rec);
    RecordRef ref = RecordRef::adopt(&rec);  // released by its destructor if an emplace throws
    queue_.emplace(when, rec.id);
    records_.emplace(rec.id, std::move(ref));
    if (earliest) cv_.notify_one();
  }

  void disarm(const TaskRecord& rec) {
    const std::int64_t when = rec.deadline_ns.load(std::memory_order_relaxed);  // relaxed: runner's own write
    common::MutexLock lock(mu_);
    queue_.erase({when, rec.id});
    records_.erase(rec.id);
  }

 private:
  void loop() {
    common::UniqueLock lock(mu_);
    for (;;) {
      if (queue_.empty()) {
        cv_.wait(lock.std_lock());
        continue;
      }
      const auto [when, id] = *queue_.begin();
      if (now_ns() < when) {
        cv_.wait_until(lock.std_lock(), to_time_point(when));
        continue;
      }
      queue_.erase(queue_.begin());
      auto it = records_.find(id);
      if (it == records_.end()) continue;
      RecordRef rec = std::move(it->second);
      records_.erase(it);
      lock.unlock();
      expire(*rec);
      lock.lock();
    }
  }

  static void expire(TaskRecord& rec) {
    // relaxed: a flag read by queries; the stop request below is the signal
    // the task acts on (stop_source has its own synchronization).
    rec.deadline_exceeded.store(true, std::memory_order_relaxed);
    rec.stop.request_stop();
    record_instant("deadline exceeded", rec.name.view());
    if (rec.reporter) {
      // relaxed: statistics counter.
      rec.reporter->exceeded.fetch_add(1, std::memory_order_relaxed);
      if (rec.reporter->on_exceeded) rec.reporter->on_exceeded(snapshot(rec));
    }
  }

  common::Mutex mu_;
  std::condition_variable cv_;
  std::set<std::pair<std::int64_t, TaskId>> queue_ ABSL_GUARDED_BY(mu_);
  std::map<TaskId, RecordRef> records_ ABSL_GUARDED_BY(mu_);  // same ids as queue_
  std::thread thread_ ABSL_GUARDED_BY(mu_);                                     // started under mu_
};

Watchdog& watchdog() {
  // Leaked on purpose: detached tasks may arm or disarm deadlines during
  // static destruction. The thread ends with the process.
  static Watchdog* w = new Watchdog;
  return *w;
}

}  // namespace

void arm_deadline(TaskRecord& rec) { watchdog().arm(rec); }
void disarm_deadline(const TaskRecord& rec) { watchdog().disarm(rec); }

}  // namespace syncscope::task::internal
