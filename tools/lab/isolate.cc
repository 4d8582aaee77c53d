#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "runner.h"

namespace syncscope::lab {
namespace {

// Removes staging folders a killed child left behind.
void remove_staging(const std::string& root, const std::string& name) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(root, ec)) {
    if (e.path().filename().string().rfind("." + name + ".tmp-", 0) == 0) std::filesystem::remove_all(e.path(), ec);
  }
}

// Forks, runs the scenario in the child, returns the wait status.
int run_child(const ScenarioSpec& spec, const RunOptions& options, int index, int total, const std::string& crash) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    // Watchdog: a run that hangs (e.g. a diagnosis step that never returns)
    // dies from SIGALRM and is treated like a crash: rerun without retention.
    alarm(static_cast<unsigned>(options.seconds) + 60);
    if (!crash.empty()) {
      setenv("SYNCSCOPE_LAB_SKIP", "retain", 1);
      setenv("SYNCSCOPE_LAB_RETAIN_CRASHED", crash.c_str(), 1);
    }
    RunOutcome r = run_scenario(spec, options, false, index, total);
    if (!r.ok) std::fprintf(stderr, "syncscope-lab: %s: %s\n", spec.name.c_str(), r.error.c_str());
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(r.ok ? 0 : 3);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

}  // namespace

IsolatedOutcome run_scenario_isolated(const ScenarioSpec& spec, const RunOptions& options, int index, int total) {
  IsolatedOutcome out;
  int status = run_child(spec, options, index, total, "");
  if (status != -1 && WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    remove_staging(options.out, spec.name);
    const std::string why = std::string("signal ") + std::to_string(sig) + " (" + strsignal(sig) + ")";
    std::fprintf(stderr,
                 "[lab %d/%d] %s: the run died from %s; rerunning once without the retention step\n", index,
                 total, spec.name.c_str(), why.c_str());
    status = run_child(spec, options, index, total, why);
    if (status != -1 && WIFSIGNALED(status)) remove_staging(options.out, spec.name);
  }
  if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    out.error = status == -1 ? "cannot start the scenario process"
                             : WIFSIGNALED(status) ? "the scenario process died from signal " +
                                                         std::to_string(WTERMSIG(status))
                                                   : "the scenario failed (see above)";
    return out;
  }
  std::ifstream f(options.out + "/" + spec.name + "/verdict.json");
  std::stringstream ss;
  ss << f.rdbuf();
  const nlohmann::json v = nlohmann::json::parse(ss.str(), nullptr, false);
  if (v.is_discarded() || !v.contains("leak")) {
    out.error = "verdict.json unreadable after the run";
    return out;
  }
  out.ok = true;
  out.leak = v["leak"].get<bool>();
  return out;
}

}  // namespace syncscope::lab
