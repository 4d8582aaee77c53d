#include "http/fork_participants.h"

#include <pthread.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "common/annotated_mutex.h"

namespace syncscope::http::internal {
namespace {

struct Registry {
  common::Mutex mu;  // held from the prepare handler to the parent/child handler
  std::vector<ForkParticipant*> participants ABSL_GUARDED_BY(mu);
};

Registry& registry() {
  // Leaked on purpose: fork() may run during static destruction.
  static Registry* r = new Registry;
  return *r;
}

// pthread_atfork's protocol holds r.mu from prepare() to in_parent() or
// in_child(), across functions, where the analysis cannot follow it.
void prepare() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Registry& r = registry();
  r.mu.lock();
  for (ForkParticipant* p : r.participants) p->before_fork();
}

void in_parent() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  Registry& r = registry();
  for (ForkParticipant* p : r.participants) p->after_fork_in_parent();
  r.mu.unlock();
}

void in_child() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  // The child's only thread is the one that forked, which holds r.mu.
  Registry& r = registry();
  for (ForkParticipant* p : r.participants) p->after_fork_in_child();
  r.participants.clear();  // the servers' threads stayed in the parent
  r.mu.unlock();
}

}  // namespace

void add_fork_participant(ForkParticipant* p) {
  static std::once_flag installed;
  std::call_once(installed, [] { pthread_atfork(prepare, in_parent, in_child); });
  Registry& r = registry();
  common::MutexLock lock(r.mu);
  r.participants.push_back(p);
}

void remove_fork_participant(ForkParticipant* p) {
  Registry& r = registry();
  common::MutexLock lock(r.mu);
  r.participants.erase(std::remove(r.participants.begin(), r.participants.end(), p),
                       r.participants.end());
}

}  // namespace syncscope::http::internal
