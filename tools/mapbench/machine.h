// The machine a run measured: written at the top of every report, because
// figures mean nothing without it.
#pragma once

#include <string>
#include <vector>

namespace syncscope::mapbench {

struct Machine {
  std::string cpu_model;  // /proc/cpuinfo "model name" (first CPU)
  int cpus = 1;           // CPUs this process may run on (affinity mask)
  std::string kernel;     // uname -sr
  std::string one_line() const;  // "AMD EPYC, 2 CPUs, Linux 6.1"
};

Machine describe_machine();

// Go's default sweep, adapted: powers of two below the CPU count, then the
// CPU count itself (1, 2, 4, 8, 16 on 16 CPUs; 1, 2, 4, 6 on 6).
std::vector<int> default_thread_counts(int cpus);

}  // namespace syncscope::mapbench
