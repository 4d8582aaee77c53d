// Instantiates every workload for syncscope's five maps. Built without the
// map part (SYNCSCOPE_MAPBENCH_HAVE_MAPS undefined), the driver lists no
// syncscope systems and says so.
#include "runner.h"

#ifdef SYNCSCOPE_MAPBENCH_HAVE_MAPS
#include "syncscope/map/maps.h"
#include "syncscope_adapter.h"
#include "system_names.h"
#endif

namespace syncscope::mapbench {

#ifdef SYNCSCOPE_MAPBENCH_HAVE_MAPS
namespace names = system_names;

std::vector<CppSystem> syncscope_systems() {
  namespace m = syncscope::map;
  return {make_system<SyncscopeAdapter<m::ReadMostlyMap<Key, Value>, names::kReadMostlyMap>>(),
          make_system<SyncscopeAdapter<m::LockedMap<Key, Value>, names::kLockedMap>>(),
          make_system<SyncscopeAdapter<m::ShardedMap<Key, Value>, names::kShardedMap>>(),
          make_system<SyncscopeAdapter<m::PooledShardedMap<Key, Value>, names::kPooledShardedMap>>(),
          make_system<SyncscopeAdapter<m::FlatGroupMap<Key, Value>, names::kFlatGroupMap>>()};
}
#else
std::vector<CppSystem> syncscope_systems() { return {}; }
#endif

}  // namespace syncscope::mapbench
