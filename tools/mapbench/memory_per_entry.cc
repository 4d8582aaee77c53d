// syncscope-mapbench-memory: heap bytes per entry of every C++ system of the
// mapbench, for 10^6 int64 -> int64 pairs (issue 19's memory column).
//
// Per system, in a fresh map: heap in use (glibc mallinfo2: arena bytes in
// use plus mmapped blocks) before construction, then after storing keys
// 0..N-1 through the adapter's load_or_store, then N loads of every key
// (which promotes ReadMostlyMap's dirty map to its read snapshot, its
// steady state) and a drain of retired objects. Bytes per entry =
// (after - before) / N, so table slack, nodes, boxes and per-map
// structures all count. Single-threaded; the figures are deterministic up
// to malloc's bookkeeping.
//   build/bin/syncscope-mapbench-memory [N]
#include <malloc.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "peer_adapters.h"

#ifdef SYNCSCOPE_MAPBENCH_HAVE_MAPS
#include "syncscope/map/maps.h"
#include "syncscope/reclaim/epoch_domain.h"
#include "syncscope_adapter.h"
#endif

namespace syncscope::mapbench {
namespace {

std::int64_t heap_in_use() {
  const struct mallinfo2 mi = mallinfo2();
  return static_cast<std::int64_t>(mi.uordblks + mi.hblkhd);
}

template <class A>
void measure(const char* name, std::int64_t n) {
  const std::int64_t before = heap_in_use();
  auto map = std::make_unique<A>();
  Value actual = 0;
  for (Key k = 0; k < n; ++k) map->load_or_store(k, k, actual);
  for (Key k = 0; k < n; ++k) map->load(k, actual);
#ifdef SYNCSCOPE_MAPBENCH_HAVE_MAPS
  for (int i = 0; i < 4; ++i) syncscope::reclaim::EpochDomain::global().drain();  // retired tables
#endif
  const std::int64_t after = heap_in_use();
  std::printf("| %s | %.1f |\n", name, static_cast<double>(after - before) / static_cast<double>(n));
}

#ifdef SYNCSCOPE_MAPBENCH_HAVE_MAPS
constexpr char kReadMostly[] = "ReadMostlyMap";
constexpr char kLocked[] = "LockedMap";
constexpr char kSharded[] = "ShardedMap";
constexpr char kPooled[] = "PooledShardedMap";
constexpr char kFlatGroup[] = "FlatGroupMap";
#endif

}  // namespace
}  // namespace syncscope::mapbench

int main(int argc, char** argv) {
  using namespace syncscope::mapbench;
  const std::int64_t n = argc > 1 ? std::atoll(argv[1]) : 1'000'000;
  if (n <= 0) {
    std::fprintf(stderr, "usage: syncscope-mapbench-memory [entries > 0]\n");
    return 2;
  }
  std::printf("| system | heap bytes per entry (%lld int64 pairs) |\n|---|---:|\n",
              static_cast<long long>(n));
#ifdef SYNCSCOPE_MAPBENCH_HAVE_MAPS
  namespace m = syncscope::map;
  measure<SyncscopeAdapter<m::ReadMostlyMap<Key, Value>, kReadMostly>>(kReadMostly, n);
  measure<SyncscopeAdapter<m::LockedMap<Key, Value>, kLocked>>(kLocked, n);
  measure<SyncscopeAdapter<m::ShardedMap<Key, Value>, kSharded>>(kSharded, n);
  measure<SyncscopeAdapter<m::PooledShardedMap<Key, Value>, kPooled>>(kPooled, n);
  measure<SyncscopeAdapter<m::FlatGroupMap<Key, Value>, kFlatGroup>>(kFlatGroup, n);
#endif
  measure<TbbHashMapAdapter>(TbbHashMapAdapter::kName, n);
  measure<TbbUnorderedMapAdapter>(TbbUnorderedMapAdapter::kName, n);
  measure<CuckooAdapter>(CuckooAdapter::kName, n);
  return 0;
}
