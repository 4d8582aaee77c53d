// The diagnosis steps that ask the runtime parts: resident tasks (task),
// pinned readers (reclaim), retention paths and retainers (retain). Each
// step fills its part of a Diagnosis, or records in `notes` why it failed. None of them knows which
// scenario is running.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "lab_types.h"

namespace syncscope::lab {

// Resident tasks (older than `threshold_s`) grouped by spawn site.
void diagnose_tasks(Diagnosis& d, double threshold_s);

// Threads pinned in the epoch domain for longer than `min_age_s`.
void diagnose_pinned_readers(Diagnosis& d, double min_age_s);

// Two retention snapshots, at the end of warm-up and at the end, give the
// sites that grew (exact), the retention path to a block of the site that
// grew most, the top retainers and the tasks nothing can wake.
class RetentionProbe {
 public:
  RetentionProbe();
  ~RetentionProbe();
  RetentionProbe(const RetentionProbe&) = delete;
  RetentionProbe& operator=(const RetentionProbe&) = delete;

  void take_before(Diagnosis& d);
  void take_after(Diagnosis& d);
  // Writes the retention profile (pprof) of the "after" snapshot.
  absl::Status write_retention_profile(const std::string& path) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace syncscope::lab
