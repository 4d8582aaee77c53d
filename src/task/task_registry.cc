// TaskRegistry: live records in kShards intrusive doubly-linked lists, each
// under its own lock (a futex word, futex_lock.h), so that finishes on
// different workers rarely contend and a query holds any one lock only
// while copying that shard.
//
// Registration takes no lock: the spawner pushes the record onto its shard's
// `arrivals` stack with one compare-exchange; whoever next takes the shard's
// lock (the unregistering worker, a query) first moves the arrivals into
// the list (drain_locked). A record is therefore in exactly one of the two
// while it is registered, and every reader sees it once it holds the lock.
//
//   spawner --CAS--> arrivals: r9 -> r8 -> null      (singly linked by next)
//   lock holder:     drain_locked: list r9 <-> r8 <-> r5 <-> r1
#include "syncscope/task/task_registry.h"

#include <algorithm>
#include <array>
#include <map>
#include <tuple>
#include <type_traits>

#include "absl/base/thread_annotations.h"
#include "task/futex_lock.h"
#include "task/registry_internal.h"

namespace syncscope::task {
namespace {

constexpr std::size_t kShards = 16;
static_assert((kShards & (kShards - 1)) == 0, "shard index is id & (kShards - 1)");

struct alignas(64) Shard {
  internal::FutexLock mu;  // a futex word: taken once per finished task (futex_lock.h)
  internal::TaskRecord* head ABSL_GUARDED_BY(mu) = nullptr;  // list of live records
  // Records registered since the last drain, linked through `next` (their
  // `prev` is null). Pushed without the lock; emptied only under mu.
  std::atomic<internal::TaskRecord*> arrivals{nullptr};
};

struct Registry {
  std::array<Shard, kShards> shards;
  // The spawned/finished counters are namespace-scope (registry_internal.h);
  // ids come from the spawned counter (next_task_id).
};

}  // namespace

namespace internal {
PaddedCounter g_tasks_spawned;
PaddedCounter g_tasks_finished;
}  // namespace internal

namespace {

// Constant-initialized and trivially destructible: usable from the first
// spawn (even one made from another static's constructor) to the last
// finish of a detached task during static destruction, and reached without
// a guard check on every registration, id and removal.
static_assert(std::is_trivially_destructible_v<Registry>, "the registry outlives static destruction");
constinit Registry g_registry;

Registry& registry() { return g_registry; }

Shard& shard_of(TaskId id) { return registry().shards[id & (kShards - 1)]; }

// Moves the shard's arrivals into its list.
void drain_locked(Shard& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s.mu) {
  // acquire: the pushed records' fields and links are visible; pairs with [A1].
  internal::TaskRecord* r = s.arrivals.exchange(nullptr, std::memory_order_acquire);
  while (r != nullptr) {
    internal::TaskRecord* const next = r->next;
    r->prev = nullptr;
    r->next = s.head;
    if (s.head != nullptr) s.head->prev = r;
    s.head = r;
    r = next;
  }
}

bool older(const TaskInfo& a, const TaskInfo& b) {
  return std::tie(a.created, a.id) < std::tie(b.created, b.id);
}

}  // namespace

namespace internal {

void register_task(TaskRecord* rec) {
  Shard& s = shard_of(rec->id);
  rec->prev = nullptr;
  TaskRecord* top = s.arrivals.load(std::memory_order_relaxed);  // relaxed: re-read by the CAS
  do {
    rec->next = top;
    // [A1] release: publishes the record's immutable fields and its link to
    // the drainer; pairs with the acquire exchange in drain_locked.
  } while (!s.arrivals.compare_exchange_weak(top, rec, std::memory_order_release, std::memory_order_relaxed));
}

std::size_t count_task_finished() noexcept {
  // acq_rel. release: pairs with the acquire in live_count(), so a reader
  // that counts this finish also sees the registration it undoes
  // (spawned's increment happened before, in the record's hand-off to this
  // thread). acquire: as live_count()'s acquire load, for the count returned
  // below: every finish counted so far (a release sequence of RMWs) brings
  // its registration with it, so the spawned load sees at least as many
  // registrations as finished counts.
  const std::uint64_t finished = g_tasks_finished.n.fetch_add(1, std::memory_order_acq_rel) + 1;
  const std::uint64_t spawned = g_tasks_spawned.n.load(std::memory_order_relaxed);  // see above
  return spawned > finished ? static_cast<std::size_t>(spawned - finished) : 0;
}

void unlink_task(TaskRecord* rec) {
  Shard& s = shard_of(rec->id);
  internal::FutexLockGuard lock(s.mu);
  drain_locked(s);  // rec may still be an arrival
  if (rec->prev != nullptr) rec->prev->next = rec->next;
  else s.head = rec->next;
  if (rec->next != nullptr) rec->next->prev = rec->prev;
  rec->prev = rec->next = nullptr;
}

std::size_t unregister_task(TaskRecord* rec) {
  unlink_task(rec);
  return count_task_finished();
}

void for_each_live(const std::function<void(TaskRecord&)>& fn) {
  for (Shard& s : registry().shards) {
    internal::FutexLockGuard lock(s.mu);
    drain_locked(s);
    for (TaskRecord* r = s.head; r != nullptr; r = r->next) fn(*r);
  }
}

}  // namespace internal

TaskRegistry& TaskRegistry::instance() {
  static TaskRegistry* r = new TaskRegistry;
  return *r;
}

std::vector<TaskInfo> TaskRegistry::live_tasks() const {
  std::vector<TaskInfo> out;
  out.reserve(live_count());
  internal::for_each_live([&](internal::TaskRecord& r) { out.push_back(internal::snapshot(r)); });
  std::sort(out.begin(), out.end(), older);
  return out;
}

std::vector<TaskInfo> TaskRegistry::resident_tasks(Clock::duration older_than) const {
  const Clock::time_point now = Clock::now();
  std::vector<TaskInfo> out;
  internal::for_each_live([&](internal::TaskRecord& r) {
    if (now - internal::to_time_point(r.created_ns) > older_than) out.push_back(internal::snapshot(r));
  });
  std::sort(out.begin(), out.end(), older);
  return out;
}

std::vector<SiteGroup> TaskRegistry::group_by_site(const std::vector<TaskInfo>& tasks,
                                                   Clock::time_point now) {
  // Key: the site's identity (file, line, column, function); the
  // source_location strings are static, so comparing contents is exact.
  using Key = std::tuple<std::string_view, std::uint_least32_t, std::uint_least32_t, std::string_view>;
  std::map<Key, std::size_t> index;
  std::vector<SiteGroup> groups;
  std::vector<std::map<std::string, std::size_t>> reasons;
  for (const TaskInfo& t : tasks) {
    Key key{t.site.file_name(), t.site.line(), t.site.column(), t.site.function_name()};
    auto [it, inserted] = index.emplace(key, groups.size());
    if (inserted) {
      groups.emplace_back();
      groups.back().site = t.site;
      groups.back().site_string = t.site_string();
      groups.back().oldest = t;
      reasons.emplace_back();
    }
    SiteGroup& g = groups[it->second];
    ++g.count;
    ++reasons[it->second][t.blocking_reason];
    if (older(t, g.oldest)) g.oldest = t;
  }
  for (std::size_t i = 0; i < groups.size(); ++i) {
    auto& r = groups[i].reasons;
    r.assign(reasons[i].begin(), reasons[i].end());
    std::stable_sort(r.begin(), r.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    groups[i].oldest_age = groups[i].oldest.age(now);
  }
  std::sort(groups.begin(), groups.end(),
            [](const SiteGroup& a, const SiteGroup& b) { return older(a.oldest, b.oldest); });
  return groups;
}

std::vector<SiteGroup> TaskRegistry::resident_by_site(Clock::duration older_than) const {
  return group_by_site(resident_tasks(older_than));
}

std::optional<TaskInfo> TaskRegistry::find(TaskId id) const {
  Shard& s = shard_of(id);
  internal::FutexLockGuard lock(s.mu);
  drain_locked(s);
  for (internal::TaskRecord* r = s.head; r != nullptr; r = r->next) {
    if (r->id == id) return internal::snapshot(*r);
  }
  return std::nullopt;
}

std::vector<TaskInfo> TaskRegistry::tasks_on_thread(pid_t tid) const {
  std::vector<TaskInfo> out;
  internal::for_each_live([&](internal::TaskRecord& r) {
    const TaskState st = r.state.load(std::memory_order_relaxed);  // relaxed: a fact, no payload
    if (r.tid.load(std::memory_order_relaxed) == tid && st != TaskState::kQueued && st != TaskState::kDone) {
      out.push_back(internal::snapshot(r));
    }
  });
  std::sort(out.begin(), out.end(), older);
  return out;
}

bool TaskRegistry::request_stop(TaskId id) {
  // The request runs the task's stop callbacks synchronously; they may call
  // back into the registry, so it is made outside the shard lock on a copy
  // of the (shared, reference-counted) stop state.
  std::stop_source source(std::nostopstate);
  {
    Shard& s = shard_of(id);
    internal::FutexLockGuard lock(s.mu);
    drain_locked(s);
    for (internal::TaskRecord* r = s.head; r != nullptr; r = r->next) {
      if (r->id == id) {
        source = r->stop.shared_source();
        break;
      }
    }
  }
  return source.stop_possible() && source.request_stop();
}

std::size_t TaskRegistry::live_count() const noexcept { return internal::live_count_now(); }

std::uint64_t TaskRegistry::total_spawned() const noexcept {
  return internal::g_tasks_spawned.n.load(std::memory_order_relaxed);  // relaxed: statistics
}

}  // namespace syncscope::task
