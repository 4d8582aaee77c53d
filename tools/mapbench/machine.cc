#include "machine.h"

#include <sched.h>
#include <sys/utsname.h>

#include <fstream>
#include <string>

#include "text.h"

namespace syncscope::mapbench {

std::string Machine::one_line() const {
  return cpu_model + ", " + std::to_string(cpus) + (cpus == 1 ? " CPU" : " CPUs") + ", " + kernel;
}

Machine describe_machine() {
  Machine m;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      if (auto colon = line.find(':'); colon != std::string::npos) {
        m.cpu_model = std::string(text::trim(std::string_view(line).substr(colon + 1)));
      }
      break;
    }
  }
  if (m.cpu_model.empty()) m.cpu_model = "unknown CPU";
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) m.cpus = CPU_COUNT(&set);
  if (m.cpus < 1) m.cpus = 1;
  struct utsname u;
  if (uname(&u) == 0) m.kernel = std::string(u.sysname) + " " + u.release;
  return m;
}

std::vector<int> default_thread_counts(int cpus) {
  std::vector<int> out;
  for (int t = 1; t < cpus; t *= 2) out.push_back(t);
  out.push_back(cpus < 1 ? 1 : cpus);
  return out;
}

}  // namespace syncscope::mapbench
