// The heap profiler: Go's heap profile for a C++ process.
//
// Every malloc/free/new/delete of the process goes through syncscope's
// interposers once the program links syncscope::prof (or runs under
// LD_PRELOAD=libsyncscope_preload.so). While the profiler runs, allocations
// are sampled as Go and tcmalloc do: the byte distance between samples is
// exponentially distributed with mean sample_rate() bytes (512 KiB by
// default; 1 samples every allocation). Each sample records its stack (up to
// kMaxStackDepth frames), size and weight; profiles report unbiased estimates
// (a sampled block of size s stands for 1/(1-exp(-s/rate)) blocks), the same
// scaling pprof consumers expect from Go's heap profile.
//
// Exact mode (set_exact_mode) additionally tracks every live block in the
// LiveBlockTable (live_blocks.h) for the retention scanner.
//
// Thread safety: every function may be called from any thread at any time
// after main() starts. None may be called from a signal handler.
//
// When not to use: under ASan/TSan (syncscope builds prof without its
// interposers there; hooks_installed() is false and profiles stay empty), or
// when the program replaces malloc itself (tcmalloc, jemalloc).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace syncscope::prof {

// Process-wide allocation counters since the hooks were installed (process
// start). Bytes are usable sizes (malloc_usable_size), so allocated - freed
// is exactly the live heap the hooks saw. Each field is a sum of relaxed
// per-thread counters: a read concurrent with allocations may mix moments.
struct HeapCounters {
  std::uint64_t allocated_bytes = 0;
  std::uint64_t allocated_objects = 0;
  std::uint64_t freed_bytes = 0;
  std::uint64_t freed_objects = 0;
  std::uint64_t live_bytes = 0;    // allocated_bytes - freed_bytes (0 if a racy read went negative)
  std::uint64_t live_objects = 0;  // allocated_objects - freed_objects (same)
  std::uint64_t samples = 0;       // sampled allocations recorded so far
  // Sampled allocations that could not be recorded (the profiler's tables
  // were full or could not be mapped): non-zero means the profile
  // under-reports, an error to surface, not a crash.
  std::uint64_t samples_dropped = 0;
};

// One stack of the sampled heap with its estimates.
struct HeapSample {
  // Stack id (a SiteId in exact mode when task_label is 0; inside a task the
  // same stack has its own id per task label); 0 = unknown.
  std::uint32_t site = 0;
  std::uint32_t task_label = 0;          // allocating task (task_labels.h); 0 = none
  std::vector<std::uintptr_t> pcs;       // return addresses, innermost first
  std::int64_t alloc_objects = 0;        // estimated, cumulative
  std::int64_t alloc_bytes = 0;
  std::int64_t inuse_objects = 0;        // estimated, still live
  std::int64_t inuse_bytes = 0;
};

// A point-in-time copy of the sampled heap.
struct HeapSnapshot {
  std::int64_t sample_rate = 0;
  std::int64_t time_nanos = 0;  // unix time of the snapshot
  std::vector<HeapSample> samples;

  // The gzipped pprof profile: sample types alloc_objects/count,
  // alloc_space/bytes, inuse_objects/count, inuse_space/bytes (default
  // inuse_space), period_type space/bytes, period = sample_rate. Samples
  // allocated inside a task carry the labels task and task_site.
  // `default_sample_type` is the view pprof opens with: "inuse_space" (the
  // heap profile) or "alloc_space" (Go's /debug/pprof/allocs).
  std::string to_pprof(const std::string& default_sample_type = "inuse_space") const;
  // alloc_* since `base` (inuse_* stay this snapshot's), as Go's
  // /debug/pprof/allocs?seconds=N computes it. Stacks that did not grow
  // (prof::grown_sites over the alloc_* counters) drop out.
  HeapSnapshot delta_since(const HeapSnapshot& base) const;
  // Sum of inuse_bytes over all samples (the estimate of live bytes).
  std::int64_t total_inuse_bytes() const;
};

// An allocation site for summaries: the first frame outside the allocator
// and the standard library.
struct SiteSummary {
  std::string function;   // demangled, "??" when unknown
  std::string location;   // "file:line", "" when unknown
  std::int64_t live_bytes = 0;
  std::int64_t live_objects = 0;
  std::int64_t alloc_bytes = 0;
  std::int64_t alloc_objects = 0;
};

class HeapProfiler {
 public:
  static constexpr std::int64_t kDefaultSampleRate = 512 * 1024;

  // False when the interposers are not linked (sanitizer builds).
  static bool hooks_installed() noexcept;

  // Starts sampling at the current rate. Idempotent. The calling thread
  // samples from its next allocation; every other thread within 256 KiB of
  // its own allocations (its sampling countdown is read only when it runs
  // out, which keeps the allocation fast path to a subtraction).
  static void start() noexcept;
  // Stops sampling new allocations; already sampled blocks are still
  // booked as freed when they are freed, so inuse stays accurate.
  static void stop() noexcept;
  static bool running() noexcept;

  // Mean bytes between samples; values < 1 are treated as 1 (every
  // allocation). Takes effect at the calling thread's next allocation, and
  // at each other thread's next sample (or within 256 KiB while stopped).
  static void set_sample_rate(std::int64_t bytes) noexcept;
  static std::int64_t sample_rate() noexcept;

  // Exact mode: track every live block (see LiveBlockTable).
  static void set_exact_mode(bool on) noexcept;
  static bool exact_mode() noexcept;

  // Cheap: a few hundred relaxed loads, no lock, no allocation.
  static HeapCounters counters() noexcept;

  static HeapSnapshot snapshot();
  // snapshot().to_pprof().
  static std::string heap_profile_bytes();
  // Writes heap_profile_bytes() to `path` (write_file_atomically, owner-only).
  static absl::Status write_heap_profile(const std::string& path);

  // The same profile without names, as the LD_PRELOAD object writes it:
  // locations carry addresses, mappings carry each module's file, address
  // range, file offset and build id with has_functions=false, so `go tool
  // pprof` symbolizes it from the binaries. No symbolizer, no DWARF, no
  // libprotobuf: cheap enough for a process's exit (issue 16, item 2). Use
  // heap_profile_bytes() when the reader will not have the binaries.
  static std::string address_profile_bytes();
  // Writes address_profile_bytes() to `path` as write_heap_profile does.
  static absl::Status write_address_profile(const std::string& path);

  // The `n` sites with the most estimated live bytes, largest first.
  static std::vector<SiteSummary> top_sites(std::size_t n);
};

}  // namespace syncscope::prof
