// Instantiates every workload for syncscope's four maps. Built without the
// map part (SYNCSCOPE_MAPBENCH_HAVE_MAPS undefined), the driver lists no
// syncscope systems and says so.
#include "runner.h"

#ifdef SYNCSCOPE_MAPBENCH_HAVE_MAPS
#include "syncscope/map/maps.h"
#include "syncscope_adapter.h"
#endif

namespace syncscope::mapbench {

#ifdef SYNCSCOPE_MAPBENCH_HAVE_MAPS
namespace {
constexpr char kReadMostly[] = "ReadMostlyMap";
constexpr char kLocked[] = "LockedMap";
constexpr char kSharded[] = "ShardedMap";
constexpr char kPooled[] = "PooledShardedMap";
}  // namespace

std::vector<CppSystem> syncscope_systems() {
  namespace m = syncscope::map;
  return {make_system<SyncscopeAdapter<m::ReadMostlyMap<Key, Value>, kReadMostly>>(),
          make_system<SyncscopeAdapter<m::LockedMap<Key, Value>, kLocked>>(),
          make_system<SyncscopeAdapter<m::ShardedMap<Key, Value>, kSharded>>(),
          make_system<SyncscopeAdapter<m::PooledShardedMap<Key, Value>, kPooled>>()};
}
#else
std::vector<CppSystem> syncscope_systems() { return {}; }
#endif

}  // namespace syncscope::mapbench
