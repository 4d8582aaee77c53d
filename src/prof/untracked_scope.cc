// The public face of the hooks' HookGuard (thread_state.h).
#include "syncscope/prof/untracked_scope.h"

#include "prof/thread_state.h"

namespace syncscope::prof {

UntrackedScope::UntrackedScope() noexcept { internal::enter_profiler(internal::tls_state); }
UntrackedScope::~UntrackedScope() { internal::leave_profiler(internal::tls_state); }

}  // namespace syncscope::prof
