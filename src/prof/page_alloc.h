// Memory for the profiler's own tables comes straight from mmap so that the
// hook path and stop-the-world iteration never call malloc. Regions are
// MAP_NORESERVE: large capacities cost address space, not RSS, until touched.
#pragma once

#include <sys/mman.h>

#include <cstddef>

#include "prof/fault_point.h"

namespace syncscope::prof::internal {

// Zero-filled pages, or nullptr when the kernel refuses (or a test's fault
// plan for Target::kProfilerPages says so).
inline void* map_pages(std::size_t bytes) noexcept {
  if (should_inject(fault_injection::Target::kProfilerPages, bytes)) return nullptr;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

inline void unmap_pages(void* p, std::size_t bytes) noexcept {
  if (p != nullptr) munmap(p, bytes);
}

}  // namespace syncscope::prof::internal
