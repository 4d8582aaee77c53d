#include "cli.h"

#include <CLI/CLI.hpp>

#include "absl/strings/str_join.h"
#include "scenarios.h"

namespace syncscope::lab {

std::vector<std::string> accepted_targets() {
  std::vector<std::string> out;
  for (const ScenarioSpec& s : scenarios()) out.push_back(s.name);
  out.push_back("all");
  out.push_back("compare");
  return out;
}

ParseOutcome parse_command_line(int argc, char** argv) {
  CliOptions o;
  const std::vector<std::string> targets = accepted_targets();
  CLI::App app{
      "syncscope-lab: reproduces the sync.Map range leak in C++, diagnoses it (heap over time, top sites, "
      "resident tasks, retention path, verdict), proves the fixes and compares the four map designs.",
      "syncscope-lab"};
  app.add_option("scenario", o.what, "one of: " + absl::StrJoin(targets, ", "))
      ->required()
      ->check(CLI::IsMember(targets));
  app.add_option("--out", o.out, "output folder; each scenario writes DIR/<scenario>/")->capture_default_str();
  app.add_option("--seconds", o.seconds, "how long each scenario's workload runs (0 < N <= 600)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 600.0));
  app.add_flag("--exact", o.exact,
               "track every block (exact mode) so each retention hop names its allocation site; the default "
               "walks glibc's heap and names unsampled blocks by type or size");
  app.add_flag("--serve", o.serve, "keep the debug server (and the last workload) up until Ctrl-C");
  app.add_option("--port", o.port, "debug server port on 127.0.0.1 (0 = any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  ParseOutcome r;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    r.message = app.help();
    return r;
  } catch (const CLI::ParseError& e) {
    r.exit_code = 2;
    r.message = std::string("syncscope-lab: ") + e.what() + "\nRun with --help for usage.";
    return r;
  }
  if (!(o.seconds > 0)) {
    r.exit_code = 2;
    r.message = "syncscope-lab: --seconds must be greater than 0";
    return r;
  }
  if (o.out.empty()) {
    r.exit_code = 2;
    r.message = "syncscope-lab: --out must not be empty";
    return r;
  }
  r.options = o;
  return r;
}

}  // namespace syncscope::lab
