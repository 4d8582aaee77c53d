// The flight recorder: per-thread rings, the recording hooks, start/stop,
// counters and counter triggers, and the map-event listener.
#include <pthread.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <memory>
#include <vector>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "common/annotated_mutex.h"
#include "syncscope/map/map_events.h"
#include "syncscope/prof/atomic_file.h"
#include "syncscope/task/task_registry.h"
#include "syncscope/task/trace.h"
#include "task/heap_counter_track.h"
#include "task/registry_internal.h"
#include "task/short_copy.h"
#include "task/task_record.h"
#include "task/trace_buffer.h"
#include "task/trace_hooks.h"

namespace syncscope::task {
namespace internal {

std::atomic<bool> g_tracing_on{false};

namespace {

struct Recorder {
  common::Mutex mu;
  std::vector<std::shared_ptr<ThreadRing>> rings ABSL_GUARDED_BY(mu);  // creation order
  TraceConfig config ABSL_GUARDED_BY(mu);
  // Counts of rings dropped from `rings` by trim_exited_locked since the
  // last clear_trace: trace_stats adds them to the live rings' own counts.
  std::uint64_t dropped_written ABSL_GUARDED_BY(mu) = 0;
  std::uint64_t dropped_overwritten ABSL_GUARDED_BY(mu) = 0;
};


Recorder& recorder() {
  // Leaked on purpose: threads may record during static destruction.
  static Recorder* r = new Recorder;
  return *r;
}

// Drops the oldest exited rings beyond config.max_exited_threads.
void trim_exited_locked(Recorder& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(r.mu) {
  // relaxed loads of `exited`: a standalone fact (see ThreadRing::exited).
  std::size_t exited = 0;
  for (const auto& ring : r.rings) exited += ring->exited.load(std::memory_order_relaxed) ? 1 : 0;
  for (auto it = r.rings.begin(); it != r.rings.end() && exited > r.config.max_exited_threads;) {
    if ((*it)->exited.load(std::memory_order_relaxed)) {
      r.dropped_written += (*it)->written();
      r.dropped_overwritten += (*it)->overwritten();
      it = r.rings.erase(it);
      --exited;
    } else {
      ++it;
    }
  }
}

// The calling thread's ring, registered with the recorder once per thread
// (and again after clear_trace); appends to it take no lock. LocalRing owns
// it and marks it exited when the thread ends; the trivially destructible
// copy below (ring and generation) is what the per-event path reads (no TLS
// guard), equal to tl_ring's fields whenever tl_ref.ptr is non-null.
struct LocalRing {
  std::shared_ptr<ThreadRing> ring;
  ~LocalRing();
};
thread_local LocalRing tl_ring;

LocalRing::~LocalRing() {
  tl_ref.ptr = nullptr;
  // relaxed: see ThreadRing::exited.
  if (ring) ring->exited.store(true, std::memory_order_relaxed);
}

}  // namespace

std::atomic<std::uint64_t> g_generation{1};
thread_local RingRef tl_ref;

ThreadRing* register_my_ring(std::uint64_t gen) noexcept {
  Recorder& r = recorder();
  try {
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    common::MutexLock lock(r.mu);
    // relaxed: see ThreadRing::exited; the old generation's ring is finished.
    if (tl_ring.ring) tl_ring.ring->exited.store(true, std::memory_order_relaxed);
    auto ring = std::make_shared<ThreadRing>(current_tid(), name, std::max<std::size_t>(64, r.config.events_per_thread));
    if (!ring->ok()) return nullptr;  // out of memory: drop the event
    tl_ring.ring = std::move(ring);
    tl_ref.ptr = tl_ring.ring.get();
    tl_ref.generation = gen;
    r.rings.push_back(tl_ring.ring);
    trim_exited_locked(r);
    return tl_ref.ptr;
  } catch (...) {
    return nullptr;  // out of memory: drop the event
  }
}

namespace {


// The event, built in registers; `set_payload(e)` fills the value word.
template <class SetPayload>
[[gnu::always_inline]] inline TraceEvent make_event(EventType type, std::int64_t ts, std::uint64_t id,
                                                    std::string_view name, SetPayload set_payload) noexcept {
  TraceEvent e{};  // the name's unused tail is copied into the slot too
  e.ts_ns = ts;
  e.id = id;
  set_payload(e);
  e.type = type;
  const std::size_t n = std::min(name.size(), kTraceNameMax);
  copy_short(e.name, name.data(), n);  // n <= kTraceNameMax
  e.name_len = static_cast<std::uint8_t>(n);
  return e;
}

// Inlined into each recording point: the event is built in registers and
// stored straight into the ring's slot.
template <class SetPayload>
[[gnu::always_inline]] inline void append_with(EventType type, std::int64_t ts, std::uint64_t id,
                                               std::string_view name, SetPayload set_payload) noexcept {
  ThreadRing* ring = my_ring();
  if (ring == nullptr) [[unlikely]] return;
  ring->append(make_event(type, ts, id, name, set_payload));
}

[[gnu::always_inline]] inline void append(EventType type, std::int64_t ts, std::uint64_t id, double value,
                                          std::string_view name) noexcept {
  append_with(type, ts, id, name, [value](TraceEvent& e) { e.value = value; });
}


// "name: detail" truncated into a fixed buffer, without allocating.
std::string_view join_name(char (&buf)[kTraceNameMax], std::string_view a, std::string_view b) {
  std::size_t n = std::min(a.size(), sizeof buf);
  if (n != 0) std::memcpy(buf, a.data(), n);
  if (!b.empty()) {
    for (char c : std::string_view(": ")) if (n < sizeof buf) buf[n++] = c;
    const std::size_t m = std::min(b.size(), sizeof buf - n);
    if (m != 0) std::memcpy(buf + n, b.data(), m);
    n += m;
  }
  return {buf, n};
}

const char* map_event_name(map::MapEventKind kind) {
  switch (kind) {
    case map::MapEventKind::kPromotion: return "map promotion";
    case map::MapEventKind::kDirtyRebuild: return "map dirty rebuild";
    case map::MapEventKind::kCompaction: return "map compaction";
    case map::MapEventKind::kClear: return "map clear";
  }
  return "map event";
}

// Listener chained in front of whatever was installed before tracing began.
std::atomic<map::MapEventListener> g_previous_map_listener{nullptr};

void on_map_event(const map::MapEvent& event) noexcept {
  if (tracing_on()) {
    char buf[kTraceNameMax];
    append(EventType::kInstant, now_ns(), 0, static_cast<double>(event.entries),
           join_name(buf, map_event_name(event.kind), event.map_name));
  }
  // acquire: pairs with the release store in start_tracing.
  if (auto prev = g_previous_map_listener.load(std::memory_order_acquire)) prev(event);
}

// ---- counter triggers ----

struct Trigger {
  std::string counter;
  double threshold;
  Clock::duration window;
  TraceTriggerCallback on_cross;
  bool armed = true;  // the counter is (or is assumed) below the threshold
};

struct Triggers {
  common::Mutex mu;
  std::vector<Trigger> list ABSL_GUARDED_BY(mu);
  std::vector<std::thread> firing ABSL_GUARDED_BY(mu);  // joined by clear_counter_triggers
  std::atomic<bool> any{false};       // relaxed hint: list non-empty
};

Triggers& triggers() {
  static Triggers* t = new Triggers;  // leaked: see recorder()
  return *t;
}

void check_triggers(std::string_view counter, double value) noexcept {
  Triggers& t = triggers();
  common::MutexLock lock(t.mu);
  for (Trigger& trig : t.list) {
    if (trig.counter != counter) continue;
    if (value < trig.threshold) {
      trig.armed = true;
      continue;
    }
    if (!trig.armed) continue;
    trig.armed = false;
    try {
      t.firing.emplace_back([cb = trig.on_cross, window = trig.window] { cb(trace_snapshot_json(window)); });
    } catch (...) {
      trig.armed = true;  // could not start the thread: try again on the next sample
    }
  }
}

}  // namespace

std::vector<RingCopy> collect_rings(std::int64_t since_ns) {
  Recorder& r = recorder();
  std::vector<std::shared_ptr<ThreadRing>> rings;
  {
    common::MutexLock lock(r.mu);
    rings = r.rings;
  }
  std::vector<RingCopy> out;
  out.reserve(rings.size());
  for (const auto& ring : rings) {
    RingCopy copy{ring->tid, ring->thread_name, {}};
    ring->copy_since(since_ns, copy.events);
    out.push_back(std::move(copy));
  }
  return out;
}

std::vector<OpenTask> open_tasks_for_trace() {
  std::vector<OpenTask> out;
  // Every task still listed, queued, running or finishing: one that
  // finished wrote its events before leaving the list (run_task), and the
  // renderer prefers them when the ring copy, made after this walk, holds
  // them.
  for_each_live([&](TaskRecord& rec) {
    // relaxed: standalone facts (see TaskRecord); a started task has both
    // its start time and its thread set.
    const std::int64_t started = rec.started_ns.load(std::memory_order_relaxed);
    const pid_t tid = rec.tid.load(std::memory_order_relaxed);
    const pid_t spawner = rec.spawner_tid.load(std::memory_order_relaxed);
    const bool running = started != 0 && tid != 0;
    if (!running && spawner == 0) return;
    out.push_back({running ? tid : 0, rec.id, started, std::string(rec.name.view()), rec.created_ns, spawner,
                   rec.spawn_live.load(std::memory_order_relaxed)});
  });
  return out;
}

void trace_spawn(std::int64_t begin_ns, TaskId id, std::string_view name) noexcept {
  const SliceArgs args{0, saturate_u32(TaskRegistry::instance().live_count())};
  append_with(EventType::kSpawn, begin_ns, id, name, [args](TraceEvent& e) { e.slice = args; });
  sample_heap_counter_if_due(begin_ns);
}
void trace_spawn_begin(std::int64_t ts_ns, TaskId id, std::string_view name) noexcept {
  append(EventType::kSpawnBegin, ts_ns, id, 0, name);
}
void trace_spawn_end() noexcept {
  const std::int64_t now = now_ns();
  append(EventType::kSpawnEnd, now, 0, static_cast<double>(TaskRegistry::instance().live_count()), {});
  sample_heap_counter_if_due(now);
}
void trace_task_slow(const TaskRecord& rec, std::int64_t start_ns, std::int64_t finish_ns, std::size_t live) noexcept {
  // relaxed: written before the task was handed to this thread (see note_traced_spawn).
  const pid_t spawner = rec.spawner_tid.load(std::memory_order_relaxed);
  const std::uint64_t duration = static_cast<std::uint64_t>(std::max<std::int64_t>(0, finish_ns - start_ns));
  if (duration < UINT32_MAX) {
    ThreadRing* ring = my_ring();
    if (ring == nullptr) return;
    append_task_words(*ring, rec, start_ns, duration, live, spawner);
  } else {
    if (spawner != 0) {
      const SpawnMarkArgs mark{static_cast<std::uint32_t>(spawner), rec.spawn_live.load(std::memory_order_relaxed)};
      append_with(EventType::kSpawnMark, rec.created_ns, rec.id, {}, [mark](TraceEvent& e) { e.mark = mark; });
    }
    // Too long for the packed duration: the slice as a begin and an end,
    // both written now (the renderer orders slices by their times).
    append(EventType::kTaskBegin, start_ns, rec.id, 0, rec.name.view());
    append(EventType::kTaskEnd, finish_ns, rec.id, static_cast<double>(live), {});
  }
  sample_heap_counter_if_due(finish_ns);
}
void trace_block_begin(std::string_view reason) noexcept {
  append(EventType::kBlockBegin, now_ns(), 0, 0, reason);
}
void trace_block_end() noexcept { append(EventType::kBlockEnd, now_ns(), 0, 0, {}); }
void trace_live_tasks(std::size_t live) noexcept {
  const std::int64_t now = now_ns();
  append(EventType::kCounter, now, 0, static_cast<double>(live), kLiveTasksTrack);
  sample_heap_counter_if_due(now);
}

}  // namespace internal

void start_tracing(const TraceConfig& config) {
  internal::Recorder& r = internal::recorder();
  {
    common::MutexLock lock(r.mu);
    r.config = config;
  }
  const map::MapEventListener prev = map::set_map_event_listener(&internal::on_map_event);
  if (prev != &internal::on_map_event) {
    // release: publishes the chained listener before our listener can read it.
    internal::g_previous_map_listener.store(prev, std::memory_order_release);
  }
  // relaxed: see tracing_on(); each ring's [W2]/[R2] orders event contents.
  internal::set_heap_counter_interval(config.heap_counter_interval);
  internal::g_tracing_on.store(true, std::memory_order_relaxed);
  internal::trace_live_tasks(TaskRegistry::instance().live_count());
}

void stop_tracing() {
  internal::g_tracing_on.store(false, std::memory_order_relaxed);  // relaxed: see tracing_on()
}

bool tracing_enabled() noexcept { return internal::tracing_on(); }

void clear_trace() {
  internal::Recorder& r = internal::recorder();
  common::MutexLock lock(r.mu);
  r.rings.clear();
  r.dropped_written = 0;
  r.dropped_overwritten = 0;
  // release: pairs with the acquire in my_ring().
  internal::g_generation.fetch_add(1, std::memory_order_release);
}

std::string trace_snapshot_json(Clock::duration window) {
  const std::int64_t end = internal::now_ns();
  std::int64_t since = 0;
  if (window != Clock::duration::max()) {
    since = end - std::chrono::duration_cast<std::chrono::nanoseconds>(window).count();
  }
  if (internal::tracing_on()) internal::trace_live_tasks(TaskRegistry::instance().live_count());
  // The registry first, then the rings: a task missing from the walk had
  // already written its slice (see open_tasks_for_trace).
  std::vector<internal::OpenTask> open = internal::open_tasks_for_trace();
  return internal::render_chrome_json(internal::collect_rings(since), std::move(open), end);
}

absl::Status write_trace_snapshot(const std::string& path, Clock::duration window) {
  return prof::write_file_atomically(path, trace_snapshot_json(window));
}

std::string trace_for(Clock::duration duration, std::stop_token stop) {
  // Concurrent trace_for calls share the recorder; the last one out turns it
  // off again if none of them found it on.
  static common::Mutex mu;
  static int active ABSL_GUARDED_BY(mu) = 0;
  static bool started_by_us ABSL_GUARDED_BY(mu) = false;
  {
    common::MutexLock lock(mu);
    if (active++ == 0) {
      started_by_us = !tracing_enabled();
      if (started_by_us) start_tracing();
    }
  }
  const Clock::time_point begin = Clock::now();
  const Clock::time_point until = begin + duration;
  while (!stop.stop_requested() && Clock::now() < until) {
    std::this_thread::sleep_for(std::min<Clock::duration>(until - Clock::now(), std::chrono::milliseconds(10)));
  }
  std::string json = trace_snapshot_json(Clock::now() - begin);
  common::MutexLock lock(mu);
  if (--active == 0 && started_by_us) stop_tracing();
  return json;
}

void record_counter(std::string_view name, double value) noexcept {
  if (internal::tracing_on()) internal::append(internal::EventType::kCounter, internal::now_ns(), 0, value, name);
  // relaxed: a hint; set_counter_trigger's mutex orders the trigger list itself.
  if (internal::triggers().any.load(std::memory_order_relaxed)) internal::check_triggers(name, value);
}

void record_instant(std::string_view name, std::string_view detail) noexcept {
  if (!internal::tracing_on()) return;
  char buf[kTraceNameMax];
  internal::append(internal::EventType::kInstant, internal::now_ns(), 0, 0, internal::join_name(buf, name, detail));
}

void set_counter_trigger(std::string_view name, double threshold, Clock::duration window,
                         TraceTriggerCallback on_cross) {
  internal::Triggers& t = internal::triggers();
  common::MutexLock lock(t.mu);
  t.list.push_back({std::string(name), threshold, window, std::move(on_cross)});
  t.any.store(true, std::memory_order_relaxed);  // relaxed: hint only (see record_counter)
}

void clear_counter_triggers() {
  internal::Triggers& t = internal::triggers();
  std::vector<std::thread> firing;
  {
    common::MutexLock lock(t.mu);
    t.list.clear();
    t.any.store(false, std::memory_order_relaxed);  // relaxed: hint only
    firing.swap(t.firing);
  }
  for (std::thread& th : firing) th.join();
}

TraceStats trace_stats() {
  internal::Recorder& r = internal::recorder();
  TraceStats s;
  common::MutexLock lock(r.mu);
  s.events_written = r.dropped_written;
  s.events_overwritten = r.dropped_overwritten;
  for (const auto& ring : r.rings) {
    s.events_written += ring->written();
    s.events_overwritten += ring->overwritten();
  }
  s.thread_rings = r.rings.size();
  return s;
}

}  // namespace syncscope::task
