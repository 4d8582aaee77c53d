#include "go_harness.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <tuple>

#include "text.h"

extern char** environ;

namespace syncscope::mapbench {
namespace {

namespace fs = std::filesystem;

// "BenchmarkMap/<workload>/<system>[-<procs>]": Go omits the suffix when
// GOMAXPROCS is 1.
bool split_bench_name(std::string_view name, std::string& workload, std::string& system,
                      int& threads) {
  if (!text::consume_prefix(name, "BenchmarkMap/")) return false;
  std::vector<std::string_view> parts = text::split(name, "/");
  if (parts.size() != 2) return false;
  workload = std::string(parts[0]);
  std::string_view sys = parts[1];
  threads = 1;
  if (auto dash = sys.rfind('-'); dash != std::string_view::npos) {
    int procs = 0;
    if (text::parse_number(sys.substr(dash + 1), procs) && procs > 0) {
      threads = procs;
      sys = sys.substr(0, dash);
    }
  }
  system = std::string(sys);
  return !workload.empty() && !system.empty();
}

// One result line: name, iterations, then "<value> <unit>" pairs.
bool parse_result_line(std::string_view line, Record& r) {
  std::vector<std::string_view> f = text::split(line, " \t", /*skip_empty=*/true);
  if (f.size() < 4 || !split_bench_name(f[0], r.workload, r.system, r.threads)) return false;
  if (!text::parse_number(f[1], r.ops)) return false;
  bool have_ns = false;
  for (std::size_t i = 2; i + 1 < f.size(); i += 2) {
    double v = 0;
    if (!text::parse_number(f[i], v)) return false;
    const std::string_view unit = f[i + 1];
    if (unit == "ns/op") {
      r.ns_per_op = v;
      have_ns = true;
    } else if (unit == "allocs/op") {
      r.allocs_per_op = v;
    } else if (unit == "B/op") {
      r.bytes_per_op = v;
    } else if (unit == "read_ns") {
      r.read_ns = v;
    } else if (unit == "write_ops/s") {
      r.write_ops_per_s = v;
    }
  }
  r.source = "go";
  return have_ns;
}

struct ChildResult {
  bool started = false;
  int exit_code = -1;
  std::string output;
  std::string error;
};

// Runs argv in dir with extra environment, capturing stdout+stderr; result
// lines are echoed to stderr as progress.
ChildResult run_child(const std::vector<std::string>& argv, const std::string& dir,
                      const std::vector<std::string>& env_set, bool progress) {
  ChildResult res;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) {
    res.error = std::string("pipe: ") + std::strerror(errno);
    return res;
  }
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    const std::string_view key = kv.substr(0, kv.find('='));
    if (key == "GOFLAGS" || key == "GOPATH" || key == "GOCACHE" || key == "GOPROXY" ||
        key == "GOENV" || key == "GOMAXPROCS" || key == "GOWORK") {
      continue;
    }
    env.emplace_back(kv);
  }
  env.insert(env.end(), env_set.begin(), env_set.end());
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : env) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
  if (!dir.empty()) posix_spawn_file_actions_addchdir_np(&fa, dir.c_str());
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  close(pipefd[1]);
  if (rc != 0) {
    close(pipefd[0]);
    res.error = "cannot start " + argv[0] + ": " + std::strerror(rc);
    return res;
  }
  res.started = true;
  std::string pending;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(pipefd[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    res.output.append(buf, static_cast<std::size_t>(n));
    pending.append(buf, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos; pending.erase(0, nl + 1)) {
      std::string_view line(pending.data(), nl);
      if (progress && line.starts_with("BenchmarkMap/") && line.find("ns/op") != std::string_view::npos) {
        std::fprintf(stderr, "mapbench: go: %.*s\n", static_cast<int>(line.size()), line.data());
      }
    }
  }
  close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return res;
}

bool is_executable_file(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

std::string find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return {};
  for (std::string_view dir : text::split(path, ":", /*skip_empty=*/true)) {
    std::string candidate = std::string(dir) + "/" + name;
    if (is_executable_file(candidate)) return candidate;
  }
  return {};
}

// Flags shared by `go test` and a prebuilt test binary (which wants "test." prefixes).
std::vector<std::string> bench_flags(const GoRunConfig& c, const std::string& prefix) {
  std::vector<std::string> threads;
  for (int t : c.threads) threads.push_back(std::to_string(t));
  char benchtime[64];
  std::snprintf(benchtime, sizeof benchtime, "%.0fus", c.benchtime_s * 1e6);
  return {prefix + "run=^$",
          prefix + "bench=" + go_bench_pattern(c.workloads, c.systems),
          prefix + "benchmem",
          prefix + "v",
          prefix + "cpu=" + text::join(threads, ","),
          prefix + "benchtime=" + benchtime,
          prefix + "timeout=0",
          prefix + "count=1"};
}

}  // namespace

std::string go_bench_pattern(const std::vector<std::string>& workloads,
                             const std::vector<std::string>& systems) {
  return "^BenchmarkMap$/^(" + text::join(workloads, "|") + ")$/^(" + text::join(systems, "|") + ")$";
}

std::vector<Record> parse_go_bench_output(std::string_view output) {
  std::vector<Record> out;
  std::vector<std::string_view> lines = text::split(output, "\n");
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = text::trim(lines[i]);
    Record r;
    if (line.starts_with("BenchmarkMap/") && parse_result_line(line, r)) {
      out.push_back(std::move(r));
      continue;
    }
    std::string_view rest = line;
    if (text::consume_prefix(rest, "--- SKIP: ")) {
      rest = rest.substr(0, rest.find(' '));  // drop " (0.00s)"
      if (!split_bench_name(rest, r.workload, r.system, r.threads)) continue;
      r.na = true;
      r.source = "go";
      // With -v, Go prints the skip message ("    file.go:NN: msg") just
      // before the SKIP line (older versions: just after); take either.
      for (std::size_t j : {i - 1, i + 1}) {
        if (j >= lines.size()) continue;
        std::string_view msg = text::trim(lines[j]);
        const auto p = msg.find(": ");
        if (p == std::string_view::npos || msg.substr(0, p).find(".go:") == std::string_view::npos) continue;
        r.note = std::string(msg.substr(p + 2));
        break;
      }
      out.push_back(std::move(r));
    }
  }
  return out;
}

namespace {

// Runs the harness one of the two ways (see go_harness.h). On failure to
// start, returns !started with the reason in `error`.
ChildResult launch(const GoRunConfig& c) {
  const std::string go = find_in_path("go");
  const bool have_go_tree = !go.empty() && !c.go_dir.empty() && fs::exists(fs::path(c.go_dir) / "go.mod");
  std::string bin = c.go_bin;
  if (bin.empty() && !have_go_tree && is_executable_file(c.bundled_bin)) bin = c.bundled_bin;
  ChildResult child;
  if (!bin.empty()) {
    if (!is_executable_file(bin)) {
      child.error = "prebuilt Go harness '" + bin + "' is not an executable file";
      return child;
    }
    std::vector<std::string> argv{bin};
    for (auto& f : bench_flags(c, "-test.")) argv.push_back(std::move(f));
    return run_child(argv, {}, {}, c.progress);
  }
  if (!have_go_tree) {
    child.error = go.empty() ? "go not found in PATH (and no prebuilt harness)"
                             : "Go harness sources not found in '" + c.go_dir + "' (set --go-dir)";
    return child;
  }
  char tmpl[] = "/tmp/syncscope-mapbench-go-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    child.error = std::string("cannot create a temporary GOPATH/GOCACHE: ") + std::strerror(errno);
    return child;
  }
  const fs::path tmp = tmpl;
  std::vector<std::string> argv{go, "test"};
  for (auto& f : bench_flags(c, "-")) argv.push_back(std::move(f));
  argv.push_back(".");
  child = run_child(argv, c.go_dir,
                    {"GOPATH=" + (tmp / "gopath").string(), "GOCACHE=" + (tmp / "gocache").string(),
                     "GOPROXY=off", "GOFLAGS=", "GOWORK=off"},
                    c.progress);
  // The Go cache marks some files read-only; make them removable first.
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(tmp, ec)) {
    fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add, ec);
  }
  fs::remove_all(tmp, ec);
  return child;
}

// One record per requested cell: measured, skipped (n/a with Go's reason),
// or missing (n/a, "no result"). Go prints a skip once per sub-benchmark,
// not per -cpu value, so a skip covers every thread count.
std::vector<Record> merge_cells(const GoRunConfig& c, std::vector<Record> parsed) {
  std::map<std::tuple<std::string, std::string, int>, Record> by_cell;
  std::map<std::pair<std::string, std::string>, Record> skipped;
  for (auto& r : parsed) {
    if (r.na) {
      skipped[{r.workload, r.system}] = r;
    } else {
      by_cell[{r.workload, r.system, r.threads}] = std::move(r);
    }
  }
  std::vector<Record> out;
  for (const auto& w : c.workloads) {
    for (const auto& s : c.systems) {
      for (int t : c.threads) {
        if (auto it = by_cell.find({w, s, t}); it != by_cell.end()) {
          out.push_back(it->second);
          continue;
        }
        Record r;
        if (auto sk = skipped.find({w, s}); sk != skipped.end()) r = sk->second;
        r.workload = w;
        r.system = s;
        r.threads = t;
        r.na = true;
        r.source = "go";
        if (r.note.empty()) r.note = "no result from the Go harness";
        out.push_back(std::move(r));
      }
    }
  }
  return out;
}

}  // namespace

GoRunOutcome run_go_harness(const GoRunConfig& c) {
  GoRunOutcome outcome;
  const ChildResult child = launch(c);
  if (!child.started) {
    outcome.message = child.error + "; Go systems skipped";
    return outcome;
  }
  std::vector<Record> parsed = parse_go_bench_output(child.output);
  if (child.exit_code != 0) {
    const std::size_t keep = 2000;
    outcome.message = "Go harness exited with status " + std::to_string(child.exit_code) + ":\n" +
                      (child.output.size() > keep ? child.output.substr(child.output.size() - keep) : child.output);
  }
  outcome.ran = !parsed.empty();
  outcome.records = merge_cells(c, std::move(parsed));
  return outcome;
}

}  // namespace syncscope::mapbench
