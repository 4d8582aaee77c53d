#include "http/process_stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace syncscope::http::internal {
namespace {

double boot_time_seconds() {
  std::ifstream in("/proc/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double t = 0;
      in >> t;
      return t;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

std::int64_t count_fds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  std::int64_t n = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the descriptor opendir itself holds
}

// /proc/self/stat: "pid (comm) state ppid ..."; comm may contain spaces and
// parentheses, so fields are counted from the last ')'.
void read_stat(ProcessStats* s) {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return;
  const std::size_t close = line.rfind(')');
  if (close == std::string::npos) return;
  std::istringstream fields(line.substr(close + 2));
  // Field numbers below are proc(5)'s, starting at 3 (state).
  std::string f[23];
  for (std::string& x : f) fields >> x;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const long page = sysconf(_SC_PAGESIZE);
  try {
    s->cpu_seconds = (std::stod(f[14 - 3]) + std::stod(f[15 - 3])) / ticks;  // utime + stime
    s->threads = std::stoll(f[20 - 3]);
    s->start_time_seconds = boot_time_seconds() + std::stod(f[22 - 3]) / ticks;
    s->virtual_bytes = std::stoull(f[23 - 3]);
    s->resident_bytes = std::stoull(f[24 - 3]) * static_cast<std::uint64_t>(page);
  } catch (const std::exception&) {
    // A kernel with a different layout: leave the rest at zero.
  }
}

}  // namespace

ProcessStats read_process_stats() {
  ProcessStats s;
  read_stat(&s);
  s.open_fds = count_fds();
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    s.max_fds = static_cast<std::int64_t>(lim.rlim_cur);
  }
  return s;
}

}  // namespace syncscope::http::internal
