// Negative control warm-cache: a cache that warms up, then plateaus. A writer
// adds one new key every `fill_every` until `capacity` keys are cached (the
// heap climbs during the lab's warm-up), then only replaces existing values
// round-robin. Replaced values die; nothing else holds them. The detector
// must read "no leak".
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "cache_value.h"
#include "syncscope/map/read_mostly_map.h"
#include "task_group.h"
#include "workload.h"

namespace syncscope::lab {

struct WarmingCacheParams {
  std::size_t capacity = 96;                    // keys once warm
  std::size_t value_bytes = 32 * 1024;
  std::chrono::milliseconds fill_every{10};     // warming: one new key each
  std::chrono::milliseconds replace_every{10};  // warm: one replaced value each
  // Small stores to a counter map per write, as three-level does: the epoch
  // domain frees retired values in batches of kReclaimBatch retires per
  // thread, about three batches late, so heavy values replaced slowly and
  // alone stay alive in a backlog of ~768 (24 MiB here) that takes ~8 s to
  // level off, longer than a short run (see the lab's report notes).
  std::size_t counter_updates_per_write = 40;
};

class WarmingCache final : public Workload {
 public:
  explicit WarmingCache(WarmingCacheParams params = {});
  ~WarmingCache() override;

  void start() override;
  bool stop() override;
  std::string summary() const override;
  MapBacklog backlog() const override;

 private:
  void writer_loop();
  void count_hits(std::uint64_t key);

  const WarmingCacheParams params_;
  syncscope::map::ReadMostlyMap<std::uint64_t, std::shared_ptr<const CacheValue>> cache_;
  syncscope::map::ReadMostlyMap<std::uint64_t, std::uint64_t> hits_;  // per-key counters
  TaskGroup tasks_;  // the writer
  std::atomic<std::uint64_t> filled_{0};    // relaxed statistics
  std::atomic<std::uint64_t> replaced_{0};
  bool started_ = false;
};

}  // namespace syncscope::lab
