// The heap profile as addresses: a gzipped pprof profile.proto whose
// locations carry instruction addresses and whose mappings carry each
// module's file, address range, file offset and GNU build id, with
// has_functions=false, so `go tool pprof` and `pprof` symbolize it from the
// binaries (the files named by the mappings, checked by build id, or copies
// found through PPROF_BINARY_PATH). Each location also carries the name of
// its function from the module's ELF symbol table (mangled, no line): Go's
// own `go tool pprof` symbolizes from DWARF only, and finds nothing in a
// stripped binary or, with Go 1.19's debug/dwarf, in GCC 12's C++ DWARF 5;
// where it does find a line it replaces our name, elsewhere it keeps it.
//
// This is what the LD_PRELOAD object writes at exit, every interval and on
// SIGUSR2 (issue 16, item 2): no DWARF is read and no libdw or libprotobuf
// is loaded, so the dump costs the copy of the sampled heap, one
// dl_iterate_phdr, a read of the symbol tables of the modules its stacks
// touch, and a gzip. Profiles served over HTTP and
// HeapProfiler::write_heap_profile stay symbolized in process (for readers
// without the binaries).
//
// Implementation notes
//   Location address = return address - 1 for every frame (all captured pcs
//   are return addresses): profile.proto allows a non-leaf address inside
//   its call instruction, and it is the address whose line is the call's.
//   A sample with no stack gets one location with a line naming the
//   function "[unknown stack]", as the symbolized writer does.
#pragma once

#include <string>
#include <vector>

#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/symbolizer.h"

namespace syncscope::prof::internal {

// The gzipped profile of `snap` with `modules` as its mappings (the first is
// the main binary); empty, with `*error` (optional) set, when zlib cannot be
// loaded or fails. Out of memory: as every allocation of the build it is in
// (std::bad_alloc in the library; the recovery point in the LD_PRELOAD core,
// oom_recovery.h).
std::string address_profile_bytes(const HeapSnapshot& snap, const std::vector<LoadedModule>& modules,
                                  std::string* error = nullptr);

}  // namespace syncscope::prof::internal
