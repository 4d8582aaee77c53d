// syncscope-lab: the project's main job (issue 8, DESIGN §6). See docs/lab.md.
#include <signal.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "cli.h"
#include "compare.h"
#include "heap_source.h"
#include "output_dir.h"
#include "runner.h"
#include "scenarios.h"

#include "syncscope/http/debug_server.h"

namespace {

using namespace syncscope::lab;

constexpr std::int64_t kSampleRate = 64 * 1024;  // mean bytes between heap-profile samples

struct Summary {
  std::string name;
  std::string line;
  bool ok = false;
};

// Blocks SIGINT/SIGTERM in every thread (call before any thread starts) and
// returns the set, for sigwait at the end of a --serve run.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

void print_summary(const std::vector<Summary>& rows) {
  std::printf("\n━━ summary\n");
  for (const Summary& s : rows) std::printf("  %-15s %s\n", s.name.c_str(), s.line.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const ParseOutcome parsed = parse_command_line(argc, argv);
  if (!parsed.options) {
    std::fprintf(parsed.exit_code == 0 ? stdout : stderr, "%s\n", parsed.message.c_str());
    return parsed.exit_code;
  }
  const CliOptions& o = *parsed.options;
  // Only --serve waits for Ctrl-C; otherwise the default action (exit) is right.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  if (o.serve) stop_signals = block_stop_signals();
  if (const std::string err = prepare_output_root(o.out); !err.empty()) {
    std::fprintf(stderr, "syncscope-lab: %s\n", err.c_str());
    return 2;
  }
  heap::init(kSampleRate, o.exact);
  // Load the symbolizer's debug information once, here, so that every
  // scenario process inherits it instead of growing its heap mid-run.
  (void)heap::top_sites(1);

  std::unique_ptr<syncscope::http::DebugServer> server;
  if (o.serve) {
    syncscope::http::Options ho;
    ho.port = o.port;
    server = std::make_unique<syncscope::http::DebugServer>(ho);
    if (const absl::Status st = server->start(); !st.ok()) {
      std::fprintf(stderr, "syncscope-lab: cannot start the debug server: %s\n", st.ToString().c_str());
      return 2;
    }
    std::fprintf(stderr, "[lab] debug server at %s/debug/ (go tool pprof %s/debug/pprof/heap)\n",
                 server->url().c_str(), server->url().c_str());
  }

  std::vector<const ScenarioSpec*> todo;
  if (o.what == "all") {
    for (const ScenarioSpec& s : scenarios()) {
      if (!s.control) todo.push_back(&s);
    }
  } else if (o.what != "compare") {
    todo.push_back(find_scenario(o.what));
  }
  const bool with_compare = o.what == "all" || o.what == "compare";
  const int total = static_cast<int>(todo.size()) + (with_compare ? 1 : 0);
  RunOptions ro;
  ro.out = o.out;
  ro.seconds = o.seconds;
  std::vector<Summary> summary;
  std::unique_ptr<Workload> kept;
  int failures = 0;
  for (std::size_t i = 0; i < todo.size(); ++i) {
    const bool keep = o.serve && i + 1 == todo.size();
    if (!keep) {
      // Each scenario in a process of its own (see run_scenario_isolated).
      const IsolatedOutcome r = run_scenario_isolated(*todo[i], ro, static_cast<int>(i) + 1, total);
      summary.push_back({todo[i]->name,
                         r.ok ? absl::StrFormat("%-8s %s", r.leak ? "LEAK" : "no leak",
                                                o.out + "/" + todo[i]->name + "/report.html")
                              : "FAILED: " + r.error,
                         r.ok});
      if (!r.ok) ++failures;
      continue;
    }
    RunOutcome r = run_scenario(*todo[i], ro, keep, static_cast<int>(i) + 1, total);
    if (!r.ok) {
      std::fprintf(stderr, "syncscope-lab: %s: %s\n", todo[i]->name.c_str(), r.error.c_str());
      summary.push_back({todo[i]->name, "FAILED: " + r.error, false});
      ++failures;
      stop_workload(std::move(r.kept));
      continue;
    }
    kept = std::move(r.kept);
    summary.push_back({todo[i]->name,
                       absl::StrFormat("%-8s %s", r.result.verdict.leak ? "LEAK" : "no leak",
                                       o.out + "/" + todo[i]->name + "/report.html"),
                       true});
  }
  if (with_compare) {
    const int rc = run_compare(o.out, total, total);
    summary.push_back({"compare", rc == 0 ? "measured: " + o.out + "/compare/table.txt"
                                          : "not measured (see the message above)",
                       rc == 0});
    if (rc != 0 && o.what == "compare") ++failures;
  }
  if (summary.size() > 1) print_summary(summary);

  if (server) {
    std::fprintf(stderr, "[lab] serving %s/debug/ with the last workload still running; Ctrl-C to stop\n",
                 server->url().c_str());
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server->stop();
  }
  (void)stop_signals;
  stop_workload(std::move(kept));
  return failures == 0 ? 0 : 1;
}
