#include "task/executor_names.h"

#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "common/annotated_mutex.h"

namespace syncscope::task::internal {

std::string_view intern_executor_name(std::string_view name) {
  struct Table {
    common::Mutex mu;
    std::set<std::string, std::less<>> names ABSL_GUARDED_BY(mu);  // nodes never move or go
  };
  // Leaked on purpose: records (and so their executor's name) may outlive
  // static destruction (detached tasks).
  static Table* table = new Table;
  common::MutexLock lock(table->mu);
  auto it = table->names.find(name);
  if (it == table->names.end()) it = table->names.emplace(name).first;
  return *it;
}

}  // namespace syncscope::task::internal
