// Adapters for the CPU and contention profiles (prof); see sources_fleet.h.
// The leaked-task profile (retain + task) is in source_retain.cc.
#include "http/sources_fleet.h"

#include <chrono>
#include <vector>

#include "absl/strings/str_cat.h"

#include "syncscope/prof/contention_profiler.h"
#include "syncscope/prof/cpu_profiler.h"
#include "syncscope/map/lock_contention.h"

namespace syncscope::http::internal {

CpuProfileOutcome cpu_profile(int seconds, int hz, const Canceller& canceller) {
  prof::CpuProfileOptions o;
  o.hz = hz;
  o.duration = std::chrono::seconds(seconds);
  o.cancelled = [&canceller] { return canceller.cancelled(); };
  prof::CpuProfileResult r = prof::profile_cpu(o);
  CpuProfileOutcome out;
  switch (r.status) {
    case prof::CpuProfileStatus::kOk:
      if (canceller.cancelled()) {
        out.status = 503;
        out.reason = "server stopping: CPU profile cut short";
        return out;
      }
      out.profile = std::move(r.profile);
      return out;
    case prof::CpuProfileStatus::kInvalidArgument: out.status = 400; break;
    case prof::CpuProfileStatus::kBusy: out.status = 500; break;  // Go's status for this
    case prof::CpuProfileStatus::kSignalInUse:
    case prof::CpuProfileStatus::kTimerInUse: out.status = 409; break;
    case prof::CpuProfileStatus::kUnavailable: out.status = 503; break;
  }
  out.reason = absl::StrCat("Could not enable CPU profiling: ", r.message);
  return out;
}

namespace {
prof::ContentionKind to_prof(Contention kind) {
  return kind == Contention::kMutex ? prof::ContentionKind::kMutex : prof::ContentionKind::kBlock;
}
}  // namespace

absl::StatusOr<std::string> contention_profile(Contention kind, int debug) {
  if (debug > 0) return prof::contention_profile_text(to_prof(kind));
  return prof::contention_profile(to_prof(kind));
}

absl::StatusOr<std::string> contention_delta_profile(Contention kind, int seconds,
                                                     const Canceller& canceller) {
  const std::vector<prof::ContentionRecord> base = prof::contention_records(to_prof(kind));
  if (!canceller.sleep_for(std::chrono::seconds(seconds))) {
    return absl::CancelledError("server stopping: delta profile cut short");
  }
  return prof::contention_profile(to_prof(kind), &base);
}

namespace {
void on_map_lock_contended(std::int64_t wait_ns) noexcept {
  if (prof::contention_profiling_on(prof::ContentionKind::kMutex)) {
    prof::record_contention(prof::ContentionKind::kMutex, wait_ns);
  }
}
}  // namespace

void connect_lock_contention() { map::set_lock_contention_listener(&on_map_lock_contended); }

}  // namespace syncscope::http::internal
