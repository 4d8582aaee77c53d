// The cache service of scenario 1 (range-spawn) and of its three fixes.
//
// A ReadMostlyMap<key, shared_ptr<const CacheValue>> holds `entries` values.
// A writer task replaces one value every `refresh_every`, so every value is
// replaced within entries * refresh_every and old ones should die. A sweeper
// task ranges over the map every `sweep_every` and, per entry, starts a
// refresh check that asks the Backend and waits for its reply; a fraction of
// replies never comes. What differs between the variants is what the check
// holds while it waits:
//   kCaptureValue  the shared_ptr itself (the leak: the value outlives its
//                  replacement for as long as the task waits — forever);
//   kCopyFields    fix #1: only the key and digest, copied in the callback
//                  (tasks start after range() returns, so the read-side
//                  protection is held only while copying);
//   kLoadByKey     fix #2: keys are collected by range(); each task loads
//                  the current value by key after its reply, outside range;
//   kBoundedPool   fix #3: captures the value, but runs on a bounded pool
//                  whose per-task deadline ends a wait that takes too long.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "backend.h"
#include "cache_value.h"
#include "syncscope/map/read_mostly_map.h"
#include "task_group.h"
#include "tasks_shim.h"
#include "workload.h"

namespace syncscope::lab {

enum class SweepStyle { kCaptureValue, kCopyFields, kLoadByKey, kBoundedPool };

struct CacheParams {
  std::size_t entries = 48;
  std::size_t value_bytes = 64 * 1024;
  std::chrono::milliseconds sweep_every{150};
  std::chrono::milliseconds refresh_every{20};
  // Small per-key counter updates per refresh tick: the service's hot write
  // path. They keep the epoch domain's reclamation moving (it scans after a
  // batch of retires), so replaced values are freed promptly.
  std::size_t counter_updates_per_tick = 40;
  unsigned lost_permille = 200;        // replies that never come
  std::size_t max_lost = 400;         // bound on tasks left waiting
  std::chrono::milliseconds pool_deadline{300};
  unsigned pool_workers = 32;
  std::size_t pool_queue = 64;        // bounded: queued tasks hold values too
};

using CacheMap = syncscope::map::ReadMostlyMap<std::uint64_t, std::shared_ptr<const CacheValue>>;

class CacheService final : public Workload {
 public:
  explicit CacheService(SweepStyle style, CacheParams params = {});
  ~CacheService() override;

  void start() override;
  bool stop() override;
  std::string summary() const override;
  MapBacklog backlog() const override;

 private:
  void writer_loop();
  void sweeper_loop();
  void sweep_capturing_value();
  void sweep_copying_fields();
  void sweep_loading_by_key();
  void sweep_into_pool();
  // The body every refresh check shares: ask, wait, compare. False when the
  // wait ended without a reply (released or cancelled).
  bool await_reply(std::uint64_t key, std::uint64_t* answer);
  bool released() const noexcept { return tasks_.released(); }

  const SweepStyle style_;
  const CacheParams params_;
  CacheMap cache_;
  syncscope::map::ReadMostlyMap<std::uint64_t, std::uint64_t> hits_;  // per-key counters
  Backend backend_;
  std::unique_ptr<BoundedPool> pool_;  // kBoundedPool only
  TaskGroup tasks_;  // the loops and every refresh check; stop() releases and waits
  // Statistics for summary(); relaxed.
  std::atomic<std::uint64_t> checks_{0};
  std::atomic<std::uint64_t> stale_{0};
  std::atomic<std::uint64_t> dropped_{0};   // pool full
  std::atomic<std::uint64_t> cancelled_{0}; // waits ended by a deadline
  bool started_ = false;
};

}  // namespace syncscope::lab
