#include "options.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <CLI/CLI.hpp>

#include "machine.h"
#include "text.h"

namespace syncscope::mapbench {
namespace {

constexpr std::chrono::milliseconds kQuickDuration{20};
constexpr std::chrono::milliseconds kFullDuration{500};
constexpr int kMaxThreads = 4096;

// Splits "A,B" and checks every name against `known`; returns the names in
// `known` order, or an error message.
std::optional<std::vector<std::string>> pick_names(const std::string& list,
                                                   const std::vector<std::string>& known,
                                                   const char* what, std::string& error) {
  std::set<std::string> wanted;
  for (std::string_view name : text::split(list, ",")) {
    name = text::trim(name);
    if (name.empty()) continue;
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      error = std::string("unknown ") + what + " '" + std::string(name) + "' (known: " + text::join(known, ", ") + ")";
      return std::nullopt;
    }
    wanted.emplace(name);
  }
  if (wanted.empty()) {
    error = std::string("--") + what + "s needs at least one name";
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (const auto& k : known) {
    if (wanted.count(k) != 0) out.push_back(k);
  }
  return out;
}

std::optional<std::vector<int>> parse_threads(const std::string& list, std::string& error) {
  std::set<int> counts;
  for (std::string_view item : text::split(list, ",")) {
    item = text::trim(item);
    int n = 0;
    if (!text::parse_number(item, n) || n < 1 || n > kMaxThreads) {
      error = "bad thread count '" + std::string(item) + "': each must be an integer from 1 to " +
              std::to_string(kMaxThreads);
      return std::nullopt;
    }
    counts.insert(n);
  }
  return std::vector<int>(counts.begin(), counts.end());
}

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view spec) {
  std::string_view text = text::trim(spec);
  double scale = 1e9;  // plain number: seconds
  if (text::consume_suffix(text, "ms")) {
    scale = 1e6;
  } else if (text::consume_suffix(text, "us")) {
    scale = 1e3;
  } else if (text::consume_suffix(text, "ns")) {
    scale = 1;
  } else if (text::consume_suffix(text, "s")) {
    scale = 1e9;
  }
  double v = 0;
  if (!text::parse_number(text, v) || !std::isfinite(v) || v <= 0 ||
      v * scale > 3600e9) {
    return std::nullopt;
  }
  return std::chrono::nanoseconds(static_cast<std::int64_t>(v * scale));
}

ParseOutcome parse_options(int argc, const char* const* argv, const Catalog& catalog) {
  CLI::App app{"syncscope-mapbench: Go's sync.Map benchmark workloads over syncscope's maps, "
               "C++ peer maps and Go's sync.Map"};
  Options o;
  std::string workloads, systems, threads, duration;
  app.add_flag("--quick", o.quick, "short runs at threads 1,2 (CI); full mode otherwise");
  app.add_flag("--list", o.list, "print the workloads and systems, then exit");
  app.add_option("--workloads", workloads, "comma-separated workload names (default: all)");
  app.add_option("--systems", systems, "comma-separated system names (default: all built)");
  app.add_option("--threads", threads, "comma-separated thread counts (default: powers of two up to the CPU count, plus the CPU count; quick: 1,2)");
  app.add_option("--duration", duration, "time per run, e.g. 500ms, 1s (default: 500ms; quick: 20ms)");
  app.add_option("--json", o.json, "write every record as a JSON list");
  app.add_option("--markdown", o.markdown, "write the markdown tables");
  app.add_option("--svg", o.svg, "write the throughput-vs-threads chart");
  app.add_option("--csv", o.csv, "write every record as CSV");
  app.add_flag("--go,!--no-go", o.go, "run the Go harness (default) or not");
  app.add_option("--go-bin", o.go_bin, "prebuilt Go harness (go test -c) to run instead of `go test`");
  app.add_option("--go-dir", o.go_dir, "Go harness sources (default: the source tree's tools/mapbench/go)");
  ParseOutcome out;
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    out.exit_code = e.get_exit_code();
    out.message = e.get_exit_code() == 0
                      ? app.help()
                      : std::string("syncscope-mapbench: ") + e.what() + "\nRun with --help for usage.";
    return out;
  }
  auto fail = [&out](std::string msg) {
    out.exit_code = 2;
    out.message = "syncscope-mapbench: " + msg;
    return out;
  };
  std::string error;
  if (workloads.empty()) {
    o.workloads = catalog.workloads;
  } else if (auto w = pick_names(workloads, catalog.workloads, "workload", error)) {
    o.workloads = *w;
  } else {
    return fail(error);
  }
  if (systems.empty()) {
    o.systems = catalog.built_systems;
  } else if (auto s = pick_names(systems, catalog.systems, "system", error)) {
    for (const auto& name : *s) {
      if (std::find(catalog.built_systems.begin(), catalog.built_systems.end(), name) ==
          catalog.built_systems.end()) {
        return fail("system '" + name + "' is not built into this binary");
      }
    }
    o.systems = *s;
  } else {
    return fail(error);
  }
  if (threads.empty()) {
    o.threads = o.quick ? std::vector<int>{1, 2} : default_thread_counts(catalog.cpus);
  } else if (auto t = parse_threads(threads, error)) {
    o.threads = *t;
  } else {
    return fail(error);
  }
  if (duration.empty()) {
    o.duration = o.quick ? std::chrono::nanoseconds(kQuickDuration) : std::chrono::nanoseconds(kFullDuration);
  } else if (auto d = parse_duration(duration)) {
    o.duration = *d;
  } else {
    return fail("bad --duration '" + duration +
                "': want a positive time such as 500ms, 2s or 0.5 (seconds), at most 1h");
  }
  if (o.go_dir.empty()) o.go_dir = catalog.default_go_dir;
  std::vector<std::string> words(argv, argv + argc);
  o.command_line = text::join(words, " ");
  out.options = std::move(o);
  return out;
}

}  // namespace syncscope::mapbench
