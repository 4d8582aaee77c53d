// The flight recorder's storage: one ring of fixed-size events per thread,
// written by that thread alone without a lock and read by snapshots that
// never make the writer wait.
//
//   thread A ring: [e5 e6 e7 e0' e1' ...]   committed = events ever written
//                   ^ oldest = committed % capacity once the ring has wrapped
//
// Registered with the recorder once per thread (trace_recorder.cc); the
// recorder's list is locked only then and by snapshots copying the list.
//
// Implementation notes (a sequence-checked ring, one writer):
// - The writer announces event i in `begun_`, writes its slot's eight words
//   (release stores [W1]), then publishes it in `committed_` [W2]. Once the
//   ring is full each event overwrites the oldest (counted: overwritten()).
// - A reader copies the slots of [committed - capacity, committed) [R2]
//   with acquire loads [R1], then re-reads `begun_`: a slot whose event
//   index is below begun - capacity may have been overwritten while it was
//   copied and is dropped from the copy. The reader never waits and never
//   retries.
// - Slot words are read and written through std::atomic_ref, so a copy
//   racing with an overwrite is a torn copy that gets discarded, not a data
//   race; release/acquire on the words (plain moves on x86-64) instead of
//   fences keeps the protocol visible to TSan. The discard rule is checked
//   by TraceRing.ConcurrentSnapshots_SeeOnlyWholeEventsInOrder.
// Events of one ring are in program order. Their timestamps are in order
// except for whole slices written when they end (kTask, and the long-task
// kTaskBegin/kTaskEnd pair), whose ts_ns is their beginning: the renderer
// orders slices by their times (trace_json.cc).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "syncscope/task/trace.h"

namespace syncscope::task::internal {

enum class EventType : std::uint8_t {
  kSpawn,       // a spawn at ts_ns (the record's creation), see SliceArgs:
                // "spawn <name>" mark with the flow start to the task with id,
                // and a "live tasks" sample
  kSpawnBegin,  // "spawn <name>" slice begins; flow start with id (a spawn
                // that waited for queue room: the wait nests inside it)
  kSpawnEnd,    // ends kSpawnBegin's slice; value = live tasks after it
  kTask,        // a whole task slice (name = task name) from ts_ns, written
                // when the task ended (see SliceArgs); flow end with id; a
                // "live tasks" sample at its end
  kSpawnMark,   // written by the worker just before its task's kTask (or
                // kTaskBegin): the spawn at ts_ns (the record's creation)
                // on the spawner's track (see SpawnMarkArgs), no name (the
                // task's event with the same id names it)
  kTaskBegin,   // for a task too long for kTask: its slice begins (written
  kTaskEnd,     // with kTaskEnd when it ended); value = live tasks after it
  kBlockBegin,  // "blocked: <reason>" slice begins
  kBlockEnd,
  kCounter,     // counter track `name` = value
  kInstant,     // instant event `name`, detail in `detail`... (name holds "name: detail")
};

// kSpawn's and kTask's payload: the slice's duration and the live count
// sampled at its end, in the value word (a spawn's duration is 0: it is a
// mark at the record's creation time, costing no clock read).
struct SliceArgs {
  std::uint32_t duration_ns;  // kTask: below 2^32 - 1 (about 4.3 s), else kTaskBegin/kTaskEnd
  std::uint32_t live_tasks;   // saturates at 2^32 - 1
};

// kSpawnMark's payload.
struct SpawnMarkArgs {
  std::uint32_t spawner_tid;
  std::uint32_t live_tasks;  // after the spawn; saturates at 2^32 - 1
};

struct TraceEvent {
  std::int64_t ts_ns;   // steady_clock
  std::uint64_t id;     // task id (spawn/task events), else 0
  union {
    double value;       // counter value / instant numeric arg / live tasks (kSpawnEnd, kTaskEnd)
    SliceArgs slice;    // kSpawn, kTask
    SpawnMarkArgs mark; // kSpawnMark
  };
  EventType type;
  std::uint8_t name_len;
  char name[kTraceNameMax];
};
static_assert(sizeof(SliceArgs) == sizeof(double), "the slice payload shares the value's word");
static_assert(sizeof(TraceEvent) == 64, "one event per cache line keeps the ring compact");

// The counter track that kSpawn, kSpawnEnd, kTask and kTaskEnd events sample.
inline constexpr char kLiveTasksTrack[] = "live tasks";

inline std::string_view event_name(const TraceEvent& e) { return {e.name, e.name_len}; }

class ThreadRing {
 public:
  // Slot storage is an anonymous mapping of its own, not a malloc block:
  // the kernel maps its pages as the ring first writes them, so an idle
  // thread's ring costs no resident memory, and the recorder's own memory
  // never shows in the program's heap profile, heap walk or retention
  // paths (a ring is 64 bytes per event: 1 MiB at the default size).
  // Check ok() before use (false: the mapping failed).
  ThreadRing(pid_t tid, std::string thread_name, std::size_t capacity);
  ~ThreadRing();
  ThreadRing(const ThreadRing&) = delete;
  ThreadRing& operator=(const ThreadRing&) = delete;

  bool ok() const noexcept { return slots_ != nullptr; }

  // Owning thread only. Never blocks, never allocates. Inline: it is the
  // recorder's whole per-event cost (a dozen stores).
  void append(const TraceEvent& e) noexcept {
    // relaxed: only this thread writes begun_/committed_.
    const std::uint64_t i = committed_.load(std::memory_order_relaxed);
    begun_.store(i + 1, std::memory_order_relaxed);  // ordered by the release stores below
    write_slot(i, e);
    // [W2] release: publishes the slot's words with the count; pairs with [R2].
    committed_.store(i + 1, std::memory_order_release);
  }

  // For events already laid out as words (a recording point that builds
  // them in registers: trace_task).
  static constexpr std::size_t kWords = sizeof(TraceEvent) / sizeof(std::uint64_t);
  // Words of an event up to and including name_len.
  static constexpr std::size_t kUnnamedWords = offsetof(TraceEvent, name) / sizeof(std::uint64_t) + 1;
  // Owning thread only: as append.
  void append_words(const std::uint64_t (&w)[kWords]) noexcept {
    // relaxed: only this thread writes begun_/committed_.
    const std::uint64_t i = committed_.load(std::memory_order_relaxed);
    begun_.store(i + 1, std::memory_order_relaxed);  // ordered by the release stores below
    write_words(i, w, kWords);
    // [W2] release: publishes the slot's words with the count; pairs with [R2].
    committed_.store(i + 1, std::memory_order_release);
  }
  // Owning thread only: `a` then `b` as one write (one announcement, one
  // publication); a snapshot sees both, or drops the older as overwritten.
  // `a` has no name: only its first kUnnamedWords words (up to name_len)
  // are written; its slot keeps an older event's name bytes, which
  // name_len 0 makes unread.
  void append2_words(const std::uint64_t* a, const std::uint64_t (&b)[kWords]) noexcept {
    // relaxed: only this thread writes begun_/committed_.
    const std::uint64_t i = committed_.load(std::memory_order_relaxed);
    begun_.store(i + 2, std::memory_order_relaxed);  // ordered by the release stores below
    write_words(i, a, kUnnamedWords);
    write_words(i + 1, b, kWords);
    // [W2] release: publishes both slots' words with the count; pairs with [R2].
    committed_.store(i + 2, std::memory_order_release);
  }

  // Any thread: appends to `out` the whole events of the ring with
  // ts_ns >= since_ns (for kTask: its end), in ring order.
  void copy_since(std::int64_t since_ns, std::vector<TraceEvent>& out) const;

  // Any thread; counters of this ring (relaxed reads: statistics).
  std::uint64_t written() const noexcept;
  std::uint64_t overwritten() const noexcept;

  const pid_t tid;
  const std::string thread_name;
  const std::size_t capacity;  // events; a power of two (the request rounded up)
  // Set by the owning thread when it exits (or starts a newer ring); read by
  // trim. relaxed: a standalone fact, publishes nothing.
  std::atomic<bool> exited{false};

 private:
  std::size_t bytes() const noexcept { return capacity * sizeof(TraceEvent); }

  static_assert(offsetof(TraceEvent, name_len) < kUnnamedWords * sizeof(std::uint64_t));

  // Writes the first `words_used` words of event i's slot; begun_ already counts it.
  void write_slot(std::uint64_t i, const TraceEvent& e, std::size_t words_used = kWords) noexcept {
    std::uint64_t words[kWords];
    std::memcpy(words, &e, sizeof words);
    write_words(i, words, words_used);
  }
  [[gnu::always_inline]] void write_words(std::uint64_t i, const std::uint64_t* words, std::size_t words_used) noexcept {
    std::uint64_t* slot = slots_ + (i & (capacity - 1)) * kWords;
#pragma GCC unroll 8
    for (std::size_t w = 0; w < words_used; ++w) {
      // [W1] release: a reader whose acquire load reads this word also sees
      // begun_ > i afterwards, and drops the slot's old event; pairs with
      // [R1]. (Plain stores on x86-64; no fence, which TSan could not
      // model.)
      std::atomic_ref<std::uint64_t>(slot[w]).store(words[w], std::memory_order_release);
    }
  }

  // capacity * kWords words; slot of event i = i % capacity. Written by the
  // owning thread only, read by any snapshot (atomic_ref, relaxed).
  std::uint64_t* slots_ = nullptr;
  // Events whose write has begun; written by the owner only. begun_ ==
  // committed_ except while the owner is inside append().
  std::atomic<std::uint64_t> begun_{0};
  // Events fully written; written by the owner only; committed_ <= begun_.
  std::atomic<std::uint64_t> committed_{0};
};

// A copy of one ring's events in the window, oldest first.
struct RingCopy {
  pid_t tid;
  std::string thread_name;
  std::vector<TraceEvent> events;
};
std::vector<RingCopy> collect_rings(std::int64_t since_ns);

// A task listed in the registry at snapshot time: a running one is drawn
// as a slice from its start, open at the snapshot's end (its kTask is
// written only when it ends); a queued or running one's spawn mark is drawn
// from the record (its kSpawnMark too is written only when it ends).
struct OpenTask {
  pid_t tid;             // 0: not started (queued): only its spawn mark is drawn
  TaskId id;
  std::int64_t started_ns;
  std::string name;
  std::int64_t created_ns;
  pid_t spawner_tid;     // 0: no spawn mark noted (note_traced_spawn)
  std::uint32_t spawn_live;
};
// Every task of the registry (queued, running, or finishing).
std::vector<OpenTask> open_tasks_for_trace();

// Renders collected rings as a Chrome trace JSON document (trace_json.cc).
// `open` are the tasks running at end_ns, taken before the rings were
// copied (a task also found whole in a ring is drawn from the ring).
std::string render_chrome_json(std::vector<RingCopy> rings, std::vector<OpenTask> open, std::int64_t end_ns);

}  // namespace syncscope::task::internal
