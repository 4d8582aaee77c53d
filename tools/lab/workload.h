// A scenario's running workload: started, left to run while the lab
// measures it, then stopped. Stopping releases everything the workload
// holds (waiting tasks included) and joins its threads, so the process can
// run the next scenario and exit cleanly.
#pragma once

#include <cstdint>
#include <string>

#include "syncscope/reclaim/epoch_domain.h"

namespace syncscope::lab {

// Retired-but-unfreed memory of the workload's map (0 when it has none):
// the map's own reclamation backlog.
using MapBacklog = syncscope::reclaim::Backlog;

class Workload {
 public:
  virtual ~Workload() = default;
  virtual void start() = 0;
  // Idempotent. Returns false if some task did not finish in time (the
  // object must then be leaked rather than destroyed: a task still uses it).
  virtual bool stop() = 0;
  // One line: what the workload did (counts), for the report.
  virtual std::string summary() const = 0;
  virtual MapBacklog backlog() const = 0;
};

}  // namespace syncscope::lab
