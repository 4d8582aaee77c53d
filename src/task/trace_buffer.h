// The flight recorder's storage: one ring of fixed-size events per thread.
//
//   thread A ring: [e5 e6 e7 e0' e1' ...]   head = total events written
//                   ^ oldest = head % capacity once the ring has wrapped
//
// A writer appends to its own ring under the ring's mutex, which only a
// snapshot ever contends for; events of one ring are in timestamp order
// because one thread writes them in program order with a monotonic clock.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "syncscope/task/trace.h"

namespace syncscope::task::internal {

enum class EventType : std::uint8_t {
  kSpawnBegin,  // "spawn <name>" slice begins; flow start with id
  kSpawnEnd,
  kTaskBegin,   // task slice begins (name = task name); flow end with id
  kTaskEnd,
  kBlockBegin,  // "blocked: <reason>" slice begins
  kBlockEnd,
  kCounter,     // counter track `name` = value
  kInstant,     // instant event `name`, detail in `detail`... (name holds "name: detail")
};

struct TraceEvent {
  std::int64_t ts_ns;   // steady_clock
  std::uint64_t id;     // task id (spawn/task events), else 0
  double value;         // counter value / instant numeric arg
  EventType type;
  std::uint8_t name_len;
  char name[kTraceNameMax];
};
static_assert(sizeof(TraceEvent) == 64, "one event per cache line keeps the ring compact");

void set_event_name(TraceEvent& e, std::string_view name) noexcept;
inline std::string_view event_name(const TraceEvent& e) { return {e.name, e.name_len}; }

struct ThreadRing {
  explicit ThreadRing(pid_t t, std::string n, std::size_t cap)
      : tid(t), thread_name(std::move(n)), capacity(cap) {}
  const pid_t tid;
  const std::string thread_name;
  const std::size_t capacity;
  std::mutex mu;
  std::vector<TraceEvent> events;  // guarded by mu; grows to capacity, then wraps
  std::uint64_t head = 0;          // guarded by mu; events ever written
  bool exited = false;             // guarded by mu; the thread has ended
};

// A copy of one ring's events in the window, oldest first.
struct RingCopy {
  pid_t tid;
  std::string thread_name;
  std::vector<TraceEvent> events;
};
std::vector<RingCopy> collect_rings(std::int64_t since_ns);

// Renders collected rings as a Chrome trace JSON document (trace_json.cc).
std::string render_chrome_json(std::vector<RingCopy> rings, std::int64_t end_ns);

}  // namespace syncscope::task::internal
