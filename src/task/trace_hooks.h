// Trace recording points called by the task runtime. Each is a no-op unless
// tracing_enabled(); callers check tracing_on() first to keep the off path
// to one relaxed load.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "syncscope/task/task_core.h"
#include "task/heap_counter_track.h"
#include "task/registry_internal.h"
#include "task/task_record.h"
#include "task/trace_buffer.h"

namespace syncscope::task::internal {

extern std::atomic<bool> g_tracing_on;

inline bool tracing_on() noexcept {
  // relaxed: a hint only; an event racing with start/stop may be kept or
  // dropped, and the ring's own [W2]/[R2] pair orders the event data.
  return g_tracing_on.load(std::memory_order_relaxed);
}

// A spawn made while tracing is on, after the task's registration: notes
// in the record the spawner's thread and the live count, which the task's
// own event carries when it ends (trace_task). No event, no clock read:
// the spawn's mark is drawn at the record's creation time, on the
// spawner's track, with the flow start to the task.
// Inline: a handful of instructions on every traced spawn.
inline void note_traced_spawn(TaskRecord& rec) noexcept {
  const std::size_t live = live_count_now();
  // relaxed: standalone facts for the task's own thread (which receives the
  // record through the executor's queue or the thread's start) and for
  // snapshots (which read them under the registry's shard lock).
  rec.spawn_live.store(live > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(live), std::memory_order_relaxed);
  rec.spawner_tid.store(current_tid(), std::memory_order_relaxed);
}
// A spawn that was refused (queue full without waiting, shut down, no
// thread): its mark as an event of its own, since the task never runs.
void trace_spawn(std::int64_t begin_ns, TaskId id, std::string_view name) noexcept;
// For a spawn that has to wait for queue room (its wait's "blocked" slice
// nests inside): the slice's begin, written before the wait, and its end
// with the "live tasks" sample.
void trace_spawn_begin(std::int64_t ts_ns, TaskId id, std::string_view name) noexcept;
void trace_spawn_end() noexcept;
// The task's whole slice on the worker's track, with the flow end, written
// once when the task has finished: the caller passes the times it read for
// the task's record (started, finished) and the "live tasks" count after
// the task. One event (two for a task longer than about 4.3 s), plus the
// spawn's mark when note_traced_spawn noted one. A task still running at
// snapshot time is drawn from the registry instead (open_tasks_for_trace).
// Inline (below): the usual case is a dozen stores into this thread's ring.
[[gnu::always_inline]] inline void trace_task(const TaskRecord& rec, std::int64_t start_ns, std::int64_t finish_ns,
                                              std::size_t live) noexcept;
// trace_task's other cases: a task of 2^32 ns or more, a thread without a
// ring (yet, or since clear_trace).
void trace_task_slow(const TaskRecord& rec, std::int64_t start_ns, std::int64_t finish_ns, std::size_t live) noexcept;
// "blocked: <reason>" slice.
void trace_block_begin(std::string_view reason) noexcept;
void trace_block_end() noexcept;
// "live tasks" counter sample.
void trace_live_tasks(std::size_t live) noexcept;

// ---- the calling thread's ring (trace_recorder.cc) ----

// Bumped by clear_trace(); a thread whose ring is of an older generation
// starts a new one. acquire/release: see my_ring(). A namespace-scope
// constant-initialized atomic, so the per-event check needs no guard.
extern std::atomic<std::uint64_t> g_generation;
// The ring the calling thread appends to, as the per-event path reads it:
// one trivially destructible thread_local (no guard), equal to the owning
// LocalRing's fields whenever ptr is non-null.
struct RingRef {
  ThreadRing* ptr = nullptr;        // the thread's ring, or null
  std::uint64_t generation = 0;     // g_generation when it was made
};
extern thread_local RingRef tl_ref;
// Registers a ring for the calling thread; nullptr when out of memory.
ThreadRing* register_my_ring(std::uint64_t gen) noexcept;

inline ThreadRing* my_ring() noexcept {
  // acquire: pairs with the release in clear_trace(), so a thread that sees
  // the new generation registers a fresh ring in the cleared list.
  const std::uint64_t gen = g_generation.load(std::memory_order_acquire);
  if (tl_ref.ptr != nullptr && tl_ref.generation == gen) [[likely]] return tl_ref.ptr;
  return register_my_ring(gen);
}

inline std::uint32_t saturate_u32(std::uint64_t v) noexcept {
  return v > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(v);
}

// ---- trace_task's words, built in registers ----

static_assert(std::endian::native == std::endian::little, "the task event's words are packed by hand");
static_assert(offsetof(TraceEvent, value) == 16 && offsetof(TraceEvent, type) == 24 &&
                  offsetof(TraceEvent, name_len) == 25 && offsetof(TraceEvent, name) == 26 &&
                  kTraceNameMax == 38 && ThreadRing::kWords == 8 && ThreadRing::kUnnamedWords == 4,
              "append_task_words lays the event out by hand");
static_assert(RecordName::kInlineName + 1 >= kTraceNameMax,
              "a record's name has kTraceNameMax readable bytes (RecordName::padded_data)");
static_assert(offsetof(SliceArgs, duration_ns) == 0 && offsetof(SliceArgs, live_tasks) == 4 &&
                  offsetof(SpawnMarkArgs, spawner_tid) == 0 && offsetof(SpawnMarkArgs, live_tasks) == 4,
              "pack_u32_pair(low, high) is the payload word's layout");

inline std::uint64_t load_word(const char* p) noexcept {
  std::uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
inline std::uint64_t pack_u32_pair(std::uint32_t low, std::uint32_t high) noexcept {
  return static_cast<std::uint64_t>(low) | (static_cast<std::uint64_t>(high) << 32);
}

// The task's kTask event (duration < 2^32 - 1 ns), preceded by its spawn's
// kSpawnMark when `spawner` is not 0. The name's 38 bytes are five word
// loads from the record's padded name: bytes past its length are stored
// too and never read (name_len bounds them).
[[gnu::always_inline]] inline void append_task_words(ThreadRing& ring, const TaskRecord& rec, std::int64_t start_ns,
                                                     std::uint64_t duration, std::size_t live, pid_t spawner) noexcept {
  const char* name = rec.name.padded_data();
  const std::uint64_t n = std::min<std::uint64_t>(rec.name.view().size(), kTraceNameMax);
  const std::uint64_t task[ThreadRing::kWords] = {
      static_cast<std::uint64_t>(start_ns),
      rec.id,
      pack_u32_pair(static_cast<std::uint32_t>(duration), saturate_u32(live)),
      static_cast<std::uint64_t>(EventType::kTask) | (n << 8) | (load_word(name) << 16),
      load_word(name + 6),
      load_word(name + 14),
      load_word(name + 22),
      load_word(name + 30)};
  if (spawner != 0) {
    const std::uint64_t mark[ThreadRing::kUnnamedWords] = {
        static_cast<std::uint64_t>(rec.created_ns), rec.id,
        // relaxed: written before the task was handed to this thread (see note_traced_spawn).
        pack_u32_pair(static_cast<std::uint32_t>(spawner), rec.spawn_live.load(std::memory_order_relaxed)),
        static_cast<std::uint64_t>(EventType::kSpawnMark)};  // name_len 0
    ring.append2_words(mark, task);
  } else {
    ring.append_words(task);
  }
}

[[gnu::always_inline]] inline void trace_task(const TaskRecord& rec, std::int64_t start_ns, std::int64_t finish_ns,
                                              std::size_t live) noexcept {
  const std::uint64_t duration = static_cast<std::uint64_t>(finish_ns - start_ns);  // >= 0: one clock
  // acquire: as my_ring().
  const std::uint64_t gen = g_generation.load(std::memory_order_acquire);
  ThreadRing* const ring = tl_ref.ptr;
  if (duration < UINT32_MAX && ring != nullptr && tl_ref.generation == gen) [[likely]] {
    // relaxed: written before the task was handed to this thread (see note_traced_spawn).
    append_task_words(*ring, rec, start_ns, duration, live, rec.spawner_tid.load(std::memory_order_relaxed));
    sample_heap_counter_if_due(finish_ns);
    return;
  }
  trace_task_slow(rec, start_ns, finish_ns, live);
}

}  // namespace syncscope::task::internal
