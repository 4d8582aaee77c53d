// Cores of tests/core/programs/heap_fixture.cc, taken once and shared: the
// first test that needs one starts the program, waits for its "ready", runs
// gcore on it and keeps core + oracle under the build tree; every other test
// (each ctest entry is a process of its own) reuses them. A file lock makes
// parallel ctest runs take each core once. Every wait is bounded.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace syncscope::core_test {

inline std::string cache_dir() { return CORE_TEST_CACHE_DIR; }
inline std::string fixture_program() { return CORE_FIXTURE_PROGRAM; }
inline std::string core_tool() { return CORE_TOOL; }

struct OracleBlock {
  std::uintptr_t address = 0;
  std::uint64_t requested = 0;
  std::uint64_t usable = 0;
};

struct FixtureCore {
  std::string core;    // path of the core file ("" when it could not be made)
  std::string oracle;  // path of the oracle the program wrote
  pid_t pid = 0;       // the process the core is of
  std::string error;   // why not, when core is ""
  std::map<std::uintptr_t, OracleBlock> tracked, pre;
  std::map<std::uintptr_t, OracleBlock> prefixed;  // tracked too: sampled blocks behind a prefix
};

inline bool newer_than(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_mtim.tv_sec >= sb.st_mtim.tv_sec;
}

inline void read_oracle(FixtureCore& f) {
  std::ifstream in(f.oracle);
  std::string tag;
  OracleBlock b;
  std::string hex;
  while (in >> tag >> hex >> b.requested >> b.usable) {
    b.address = std::stoull(hex, nullptr, 16);
    (tag == "pre" ? f.pre : tag == "prefixed" ? f.prefixed : f.tracked)[b.address] = b;
  }
}

// Runs the program (`program` may be a copy) with `args`, takes its core
// into `core`, ends the program. "" or why not.
inline std::string take_core(const std::string& program, const std::vector<std::string>& args,
                             const std::string& core, pid_t& pid_out) {
  int out[2], in[2];
  if (::pipe(out) != 0 || ::pipe(in) != 0) return "pipe failed";
  const pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::close(in[1]);
    ::close(out[0]);
    std::vector<char*> argv{const_cast<char*>(program.c_str())};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(program.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  std::string error;
  pollfd p{out[0], POLLIN, 0};
  char buf[16] = {};
  if (::poll(&p, 1, 60'000) != 1 || ::read(out[0], buf, sizeof buf - 1) <= 0 || std::string(buf) != "ready\n") {
    error = "the fixture did not get ready";
  } else {
    const std::string prefix = core + ".tmp";
    const std::string cmd = "timeout 120 gcore -o " + prefix + " " + std::to_string(pid) + " >/dev/null 2>&1";
    const int rc = std::system(cmd.c_str());
    const std::string made = prefix + "." + std::to_string(pid);
    if (rc != 0 || std::rename(made.c_str(), core.c_str()) != 0)
      error = "gcore failed (status " + std::to_string(rc) + "); is gdb installed (scripts/install-deps.sh)?";
  }
  ::close(in[1]);  // the fixture exits when its stdin closes
  ::close(out[0]);
  int status = 0;
  for (int i = 0; i < 600 && ::waitpid(pid, &status, WNOHANG) == 0; ++i) ::usleep(50'000);  // bounded: 30 s
  if (::waitpid(pid, &status, WNOHANG) == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  pid_out = pid;
  return error;
}

// The core named `key`, made by `make` (which returns "" or an error) unless
// a core newer than the fixture program is already cached.
template <class Make>
FixtureCore cached_core(const std::string& key, Make make) {
  FixtureCore f;
  ::mkdir(cache_dir().c_str(), 0755);
  const std::string core = cache_dir() + "/" + key + ".core";
  f.oracle = cache_dir() + "/" + key + ".oracle";
  const std::string pid_file = cache_dir() + "/" + key + ".pid";
  const int lock = ::open((cache_dir() + "/" + key + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  ::flock(lock, LOCK_EX);  // a concurrent maker finishes first (bounded by its own deadlines)
  if (!newer_than(core, fixture_program()) || !newer_than(f.oracle, fixture_program())) {
    pid_t pid = 0;
    f.error = make(core, f.oracle, pid);
    std::ofstream(pid_file) << pid;
  }
  ::flock(lock, LOCK_UN);
  ::close(lock);
  if (!f.error.empty()) return f;
  std::ifstream(pid_file) >> f.pid;
  f.core = core;
  read_oracle(f);
  return f;
}

// The fixture heap (heap_fixture.cc).
inline const FixtureCore& fixture_core() {
  static const FixtureCore f = cached_core("fixture", [](const std::string& core, const std::string& oracle,
                                                         pid_t& pid) {
    return take_core(fixture_program(), {oracle}, core, pid);
  });
  return f;
}

// The fixture heap plus 50 Sessions, of a copy of the program that is
// deleted once the core is taken: its module is a missing file.
inline const FixtureCore& grown_core() {
  static const FixtureCore f = cached_core("grown", [](const std::string& core, const std::string& oracle,
                                                       pid_t& pid) {
    const std::string copy = cache_dir() + "/heap_fixture_copy";
    const std::string cp = "cp " + fixture_program() + " " + copy;
    if (std::system(cp.c_str()) != 0) return std::string("cannot copy the fixture");
    std::string error = take_core(copy, {oracle, "grow", "50"}, core, pid);
    ::unlink(copy.c_str());
    return error;
  });
  return f;
}

struct ToolRun {
  int status = -1;
  std::string out, err;
};

// Runs syncscope-core with `args` (shell words), capturing both streams.
inline ToolRun run_tool(const std::string& args) {
  static int counter = 0;
  const std::string base = cache_dir() + "/run." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  const std::string cmd = "timeout 120 " + core_tool() + " " + args + " >" + base + ".out 2>" + base + ".err";
  ToolRun r;
  const int rc = std::system(cmd.c_str());
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  std::stringstream o, e;
  o << std::ifstream(base + ".out").rdbuf();
  e << std::ifstream(base + ".err").rdbuf();
  r.out = o.str();
  r.err = e.str();
  ::unlink((base + ".out").c_str());
  ::unlink((base + ".err").c_str());
  return r;
}

}  // namespace syncscope::core_test
