// The heap-walk block source for this process: what the walk needs from
// the loader (found before the world stops, since the loader lock may be
// held by a thread that will be paused), and the check that the process'
// malloc is glibc's at all.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "retain/mmap_buffer.h"
#include "retain/proc_maps.h"

namespace syncscope::retain::internal {

struct HeapWalkPrep {
  MmapBuffer<Range> libc_data;  // writable segments of the module holding glibc's malloc, sorted
};

// Fills `prep`. Errors: FailedPrecondition naming the allocator when the
// process' malloc is not glibc's (jemalloc, tcmalloc, mimalloc), or when the
// glibc version has no layout file. May take the loader lock: call before
// stopping the world.
absl::Status prepare_heap_walk(HeapWalkPrep& prep);

// "jemalloc", "tcmalloc", "mimalloc" when one of them serves this process'
// malloc (linked or preloaded), "" for glibc's.
std::string foreign_allocator();

}  // namespace syncscope::retain::internal
