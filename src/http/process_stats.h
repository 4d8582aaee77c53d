// Process-level figures read from /proc/self, the same ones the Prometheus Go
// and Python clients export as process_* metrics.
#pragma once

#include <cstdint>

namespace syncscope::http::internal {

struct ProcessStats {
  double cpu_seconds = 0;            // user + system CPU time since start
  std::uint64_t resident_bytes = 0;  // RSS
  std::uint64_t virtual_bytes = 0;   // VSZ
  std::int64_t threads = 0;          // OS threads
  std::int64_t open_fds = 0;         // entries of /proc/self/fd
  std::int64_t max_fds = 0;          // RLIMIT_NOFILE soft limit
  double start_time_seconds = 0;     // Unix time the process started
};

// Reads /proc/self/stat, /proc/self/fd and /proc/stat (boot time). Fields it
// cannot read stay 0; never throws.
ProcessStats read_process_stats();

}  // namespace syncscope::http::internal
