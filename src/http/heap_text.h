// Go's legacy text heap profile (/debug/pprof/heap?debug=1):
//
//   heap profile: <inuse objs>: <inuse bytes> [<alloc objs>: <alloc bytes>] @ heap/<2*rate>
//   <inuse objs>: <inuse bytes> [<alloc objs>: <alloc bytes>] @ 0xpc 0xpc ...
//   #	0xpc	function+0xoff	file:line
//   ...
//   # syncscope.HeapCounters (in place of Go's runtime.MemStats)
//   # LiveBytes = ...
//
// Records are sorted by in-use bytes, largest first. Values are the
// profiler's unbiased estimates, as in the binary profile.
#pragma once

#include <string>

#include "syncscope/prof/heap_profiler.h"

namespace syncscope::http::internal {

std::string heap_profile_text(const prof::HeapSnapshot& snapshot,
                              const prof::HeapCounters& counters);

}  // namespace syncscope::http::internal

