// The stack walk every capture tries first: frame shapes (frame_shape.h)
// read once per return address from the modules' files and kept in one
// process-wide table, shared by all threads.
//
// Against the walks it replaces (stack_trace.cc): libunwind's unw_backtrace
// keeps a 256 KiB cache per thread and reads unwind tables through the
// module's mapping; libgcc's _Unwind_Backtrace and libunwind's stepping keep
// no cache and are about 8 and 57 times slower on a 52-frame stack
// (prof_heap_benchmark --benchmark_filter=CaptureWalks). Here the table is
// 128 KiB for the process, a cached frame costs a hash probe, and a frame
// seen for the first time costs a few preads of the module's file, so no
// .eh_frame page is ever mapped into the process for a lookup.
//
// The walk refuses (returns -1) rather than guess: at a frame whose shape it
// cannot hold (DWARF expressions, signal frames, code without unwind
// tables), a module it could not check, a full table, or another thread
// describing a module at that moment. Callers then walk another way.
#pragma once

#include <cstdint>

namespace syncscope::prof::internal {

// Writes return addresses, innermost first, as unw_backtrace called at the
// same place would: pcs[0] is walk_frame_shapes' own return address (a PC
// in its caller), pcs[1] the caller's, and so on. At most max_frames. Returns how many, or -1 when the
// walk refused. Allocation-free; async-signal-safe except that a first
// sighting of a frame opens and reads a file.
int walk_frame_shapes(std::uintptr_t* pcs, int max_frames) noexcept;

// Turns the shape walk on or off for the process (on by default); off,
// walk_frame_shapes refuses at once. For hosts whose sandbox must not see
// the walk's file reads (SYNCSCOPE_SHAPE_WALK=0 in the LD_PRELOAD object).
void set_shape_walk_enabled(bool on) noexcept;

// Counters for tests and benchmarks (relaxed reads; approximate while
// walks run).
struct ShapeWalkStats {
  std::uint64_t cached_shapes = 0;    // slots of the shape table in use
  std::uint64_t described_frames = 0;  // shapes read from a file (cache misses)
  std::uint64_t refused_walks = 0;
  std::uint64_t registered_modules = 0;
  std::uint64_t refused_modules = 0;
};
ShapeWalkStats shape_walk_stats() noexcept;

}  // namespace syncscope::prof::internal
