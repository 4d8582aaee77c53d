// Negative control bounded-growth: memory that grows past the detector's
// tolerance after warm-up, then stops at a bound. A recorder appends one
// record of `record_bytes` to an in-memory journal on a fixed schedule
// (record i at start + i * `append_every`, so a loaded machine catches up
// instead of drifting) until the journal holds `max_records`; then it
// replaces the oldest record with a new one of the same size. With the
// defaults the bound is reached 2.25 s in: a 4 s run's judged window
// (1.6 s to 4 s) sees about 2.5 MiB of growth, more than the tolerance, all
// in its first third. The detector must read "no leak".
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "task_group.h"
#include "workload.h"

namespace syncscope::lab {

struct BoundedJournalParams {
  std::size_t record_bytes = 64 * 1024;
  std::size_t max_records = 150;                // 9.4 MiB at the bound
  std::chrono::milliseconds append_every{15};   // about 4.2 MiB/s until the bound
};

class BoundedJournal final : public Workload {
 public:
  explicit BoundedJournal(BoundedJournalParams params = {});
  ~BoundedJournal() override;

  void start() override;
  bool stop() override;
  std::string summary() const override;
  MapBacklog backlog() const override { return {}; }  // no map

 private:
  void record_loop();

  const BoundedJournalParams params_;
  TaskGroup tasks_;  // the recorder
  std::atomic<std::uint64_t> appended_{0};  // relaxed statistics
  bool started_ = false;
};

}  // namespace syncscope::lab
