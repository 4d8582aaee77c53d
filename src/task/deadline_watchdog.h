// One background thread per process that requests stop on tasks whose
// deadline has passed and reports them. Started on the first armed deadline.
#pragma once

#include <memory>

#include "task/task_record.h"

namespace syncscope::task::internal {

// Arms rec's deadline (rec->deadline_ns must be set). The watchdog holds a
// reference until disarm or expiry.
void arm_deadline(TaskRecord& rec);
// Cancels the watch (the task finished in time). Idempotent.
void disarm_deadline(const TaskRecord& rec);

}  // namespace syncscope::task::internal
