// Scenario 3 (stalled-reader): a report exporter ranges over a session map
// and, inside the range callback, waits for an export slot that is never
// granted. range() holds the map's read-side protection (an epoch pin) for
// the whole call, so every value a writer replaces meanwhile is retired but
// cannot be freed: the retired box still owns its shared_ptr, and with it the
// old value. Memory climbs, and the epoch domain's pinned-reader report names
// the exporter's thread, how long it has been pinned and what it holds back.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "cache_value.h"
#include "syncscope/map/read_mostly_map.h"
#include "task_group.h"
#include "workload.h"

namespace syncscope::lab {

struct StalledReaderParams {
  std::size_t sessions = 32;
  std::size_t value_bytes = 16 * 1024;
  std::chrono::milliseconds replace_every{5};
  std::chrono::milliseconds stall_after{300};  // exporter starts its range then
  // 0: the exporter waits for a slot until stop (the leak). Otherwise each
  // range waits at most this long, once, then finishes and unpins, and the
  // exporter rests `rest_between` (the negative control stalled-reader-unpins).
  std::chrono::milliseconds stall_for{0};
  std::chrono::milliseconds rest_between{200};
  // Small stores to a counter map per write, as three-level does: the epoch
  // domain frees retired values in batches of kReclaimBatch retires per
  // thread, about three batches late, so heavy values replaced slowly and
  // alone stay alive in a backlog of ~768  that takes ~8 s to
  // level off, longer than a short run (see the lab's report notes).
  // 0 in the leak, whose memory a pin holds whatever the batch.
  std::size_t counter_updates_per_write = 0;
};

class StalledReader final : public Workload {
 public:
  explicit StalledReader(StalledReaderParams params = {});
  ~StalledReader() override;

  void start() override;
  bool stop() override;
  std::string summary() const override;
  MapBacklog backlog() const override;

 private:
  void writer_loop();
  void export_loop();
  void export_with_deadline();
  bool released() const noexcept { return tasks_.released(); }

  const StalledReaderParams params_;
  syncscope::map::ReadMostlyMap<std::uint64_t, std::shared_ptr<const CacheValue>> sessions_;
  syncscope::map::ReadMostlyMap<std::uint64_t, std::uint64_t> touches_;  // per-session counters
  std::mutex slot_mu_;
  std::condition_variable slot_cv_;  // "an export slot is free": never signalled before stop
  TaskGroup tasks_;  // the writer and the other loop
  std::atomic<std::uint64_t> replaced_{0};  // relaxed statistics
  std::atomic<std::uint64_t> exported_{0};
  bool started_ = false;
};

}  // namespace syncscope::lab
