// Instantiates every workload for the C++ peer maps.
//
// GCC 12 reports a false -Warray-bounds inside oneTBB's
// _concurrent_unordered_base.h (it sees the node allocated as raw bytes and
// then used as value_node); the code is TBB's and correct, and the warning
// would break -Werror builds, so it is silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Warray-bounds"
#endif

#include "peer_adapters.h"
#include "runner.h"

namespace syncscope::mapbench {

std::vector<CppSystem> peer_systems() {
  return {make_system<TbbHashMapAdapter>(), make_system<TbbUnorderedMapAdapter>(),
          make_system<CuckooAdapter>()};
}

}  // namespace syncscope::mapbench
