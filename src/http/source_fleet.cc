// Adapters for the CPU profile (prof) and the leaked-task profile (retain +
// task); see sources_fleet.h.
#include "http/sources_fleet.h"

#include <chrono>
#include <vector>

#include "absl/strings/str_cat.h"

#ifdef SYNCSCOPE_HTTP_HAVE_PROF
#include "syncscope/prof/cpu_profiler.h"
#endif
#if defined(SYNCSCOPE_HTTP_HAVE_RETAIN) && defined(SYNCSCOPE_HTTP_HAVE_TASK)
#include "syncscope/retain/retention.h"
#include "syncscope/task/goroutine_profile.h"
#endif

namespace syncscope::http::internal {

#ifdef SYNCSCOPE_HTTP_HAVE_PROF

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

#else

CpuProfileOutcome cpu_profile(int, int, const Canceller&) {
  return {501, "not implemented: this build of syncscope has no 'prof' part (link syncscope::prof)", ""};
}

#endif

#if defined(SYNCSCOPE_HTTP_HAVE_RETAIN) && defined(SYNCSCOPE_HTTP_HAVE_TASK)

absl::StatusOr<std::string> goroutineleak_profile(int debug) {
  absl::StatusOr<retain::RetentionSnapshot> snap = retain::take_snapshot();
  if (!snap.ok()) return snap.status();
  task::GoroutineProfileOptions o;
  o.include_threads = false;
  o.profile_name = "goroutineleak";
  std::vector<task::TaskId> ids;
  for (const retain::LeakedTask& t : snap->leaked_tasks()) ids.push_back(t.task_id);
  o.only_tasks = std::move(ids);
  if (debug == 0) return task::goroutine_profile_proto(o);
  std::optional<std::string> text = task::goroutine_profile_text(debug, o);
  if (!text) return absl::InvalidArgumentError("debug must be 0, 1 or 2");
  return *std::move(text);
}

#else

absl::StatusOr<std::string> goroutineleak_profile(int) {
  return absl::UnimplementedError(
      "not implemented: the goroutineleak profile needs the 'retain' and 'task' parts");
}

#endif

}  // namespace syncscope::http::internal
