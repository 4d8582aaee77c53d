// Contention profiles: Go's mutex and block profiles for the waits syncscope
// owns. kMutex: time spent waiting for a map's shard/table/dirty lock (fed
// through map::set_lock_contention_listener); kBlock: time a task spent in
// a wait of the tasks API (condition variables, futures, semaphores, ...).
//
// Contract
//   - Off by default. Knobs named and shaped as Go's:
//     set_mutex_profile_fraction(rate): on average 1 in `rate` contended
//     acquisitions is recorded (0 = off); set_block_profile_rate(ns): waits
//     of at least `ns` are always recorded, shorter ones with probability
//     wait/ns (0 = off, 1 = every wait). Recorded values are scaled back
//     (x rate, resp. x ns/wait) so the profile estimates the totals.
//     The environment variables SYNCSCOPE_MUTEX_PROFILE_FRACTION and
//     SYNCSCOPE_BLOCK_PROFILE_RATE set the knobs at the first use.
//   - Cheap when off: callers test contention_profiling_on() (one relaxed
//     load) before timing anything.
//   - record_contention() captures the caller's stack and adds the event to
//     a table of at most kMaxContentionStacks distinct stacks (later new
//     stacks are counted in overflow()). It allocates: not for allocation
//     hooks or signal handlers.
//   - Samples taken inside a tracked task carry the labels task and
//     task_site (task_labels.h), as Go's profiler labels.
//   - The profile: gzipped profile.proto with sample types
//     contentions/count and delay/nanoseconds, period type
//     contentions/count, period 1 (Go's printCountCycleProfile). Unlike Go,
//     whose mutex profile charges the stack that unlocked, both profiles
//     charge the stack that waited.
//
// Thread safety: every function may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace syncscope::prof {

enum class ContentionKind { kMutex, kBlock };

inline constexpr std::size_t kMaxContentionStacks = 8192;

// Go's runtime.SetMutexProfileFraction: returns the previous rate; a
// negative rate only reads it.
int set_mutex_profile_fraction(int rate) noexcept;
// Go's runtime.SetBlockProfileRate (nanoseconds); returns the previous rate;
// a negative rate only reads it.
std::int64_t set_block_profile_rate(std::int64_t rate_ns) noexcept;

bool contention_profiling_on(ContentionKind kind) noexcept;

// Records a wait of `delay_ns` that ended at the caller (if sampled).
void record_contention(ContentionKind kind, std::int64_t delay_ns) noexcept;

// Everything recorded so far, aggregated by stack.
struct ContentionRecord {
  std::uint32_t task_label = 0;     // task running the waiting thread (task_labels.h); 0 = none
  std::vector<std::uintptr_t> pcs;  // innermost first (return addresses)
  std::int64_t count = 0;           // scaled estimate
  std::int64_t delay_ns = 0;        // scaled estimate
};
std::vector<ContentionRecord> contention_records(ContentionKind kind);
std::uint64_t contention_overflow(ContentionKind kind) noexcept;

// The records as a pprof profile (see the file comment); `base` (a previous
// contention_records() result) is subtracted first when given: a delta.
std::string contention_profile(ContentionKind kind, const std::vector<ContentionRecord>* base = nullptr);
// Go's debug=1 text for mutex/block ("--- mutex:", cycles/second, sampling
// period, then "<delay> <count> @ pcs" records with symbolized frames).
std::string contention_profile_text(ContentionKind kind);

}  // namespace syncscope::prof
