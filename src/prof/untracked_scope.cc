// The public face of the hooks' HookGuard (thread_state.h).
#include "syncscope/prof/untracked_scope.h"

#include "prof/thread_state.h"

namespace syncscope::prof {

UntrackedScope::UntrackedScope() noexcept { ++internal::tls_state.hook_depth; }
UntrackedScope::~UntrackedScope() { --internal::tls_state.hook_depth; }

}  // namespace syncscope::prof
