// The loaded ELF objects of this process as pprof mappings: one entry per
// executable PT_LOAD segment of each object, with its file, file offset and
// GNU build id, all read from the loader's own tables (dl_iterate_phdr) and
// the objects' PT_NOTE segments in memory: no file is opened.
//
// Part of the preload core (no libdw): both the symbolized profile builder
// and the address-only writer describe their mappings with it.
#pragma once

#include <vector>

#include "syncscope/prof/symbolizer.h"

namespace syncscope::prof::internal {

// Every loaded module, executable first (pprof takes the first mapping as
// the main binary). The executable's path is /proc/self/exe's target, since
// the loader reports it with an empty name. Throws std::bad_alloc when out of
// memory (never from inside the loader's callback: the loader lock is
// released first). Not async-signal-safe.
std::vector<LoadedModule> loaded_modules();

}  // namespace syncscope::prof::internal
