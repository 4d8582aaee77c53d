// UntrackedScope: allocations the calling thread makes while one is alive are
// not profiled (no sample, no live-block entry); they are still counted in
// HeapProfiler::counters(). For a diagnosis tool's own memory (symbol caches,
// snapshots, reports) so it does not show up as the program's allocation
// sites or as nodes of the next retention scan. Frees are always recorded,
// wherever the block was allocated. Nestable; cheap (one thread-local add).
#pragma once

namespace syncscope::prof {

class UntrackedScope {
 public:
  UntrackedScope() noexcept;
  ~UntrackedScope();
  UntrackedScope(const UntrackedScope&) = delete;
  UntrackedScope& operator=(const UntrackedScope&) = delete;
};

}  // namespace syncscope::prof
