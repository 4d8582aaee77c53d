// Runs one scenario end to end: workload, heap sampling, diagnosis, verdict,
// files (written into a staged folder, renamed into place at the end) and the
// terminal report.
#pragma once

#include <memory>
#include <string>

#include "report.h"
#include "scenarios.h"

namespace syncscope::lab {

struct RunOptions {
  std::string out = "lab-out";
  double seconds = 5;
};

struct RunOutcome {
  bool ok = false;            // files written and committed
  std::string error;          // when !ok
  ScenarioResult result;
  std::unique_ptr<Workload> kept;  // still running (keep_running)
};

// `index`/`total` number the progress lines. With keep_running the workload
// is left running and returned (for --serve); otherwise it is stopped.
RunOutcome run_scenario(const ScenarioSpec& spec, const RunOptions& options, bool keep_running,
                        int index, int total);

// Stops a workload; if some of its tasks did not finish in time, the object
// is deliberately leaked (a task may still use it) and a warning printed.
void stop_workload(std::unique_ptr<Workload> w);

}  // namespace syncscope::lab

namespace syncscope::lab {

struct IsolatedOutcome {
  bool ok = false;
  bool leak = false;
  std::string error;
};

// Runs the scenario in a child process forked before any of its threads
// start, so a scenario's leak and its threads end with it. If the child is
// killed by a signal (a crash in a diagnosis part), the scenario is rerun
// once without the retention step, and its report says why.
IsolatedOutcome run_scenario_isolated(const ScenarioSpec& spec, const RunOptions& options, int index,
                                      int total);

}  // namespace syncscope::lab
