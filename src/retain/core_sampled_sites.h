// Allocation sites from a core of a program that ran with syncscope's heap
// profiler (linked, or the preload object): the sampled live blocks and
// their interned stacks, read from the profiler's own tables in the core's
// memory, so blocks the profiler sampled are named by allocation site as in
// the live reports.
//
// Contract: the tables are found by symbol (g_sampled_heap and the stack
// table's instance), and read with the layout of this build of prof
// (SampledHeap::core_layout, StackTable::core_layout): a core of another
// syncscope build may have another layout. Every read goes through the
// MemoryImage and is checked (capacity a power of two within bounds, slots
// and records readable, depths within kMaxStackDepth); a table that does not
// check out yields no sites and a one-line note, never a wrong name.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "retain/core_symbols.h"
#include "retain/memory_image.h"

namespace syncscope::retain::internal {

struct CoreSampledBlock {
  std::uintptr_t address = 0;
  std::uint64_t size = 0;    // requested bytes
  std::uint32_t stack = 0;   // id in `stacks`
};

struct CoreSampledSites {
  std::vector<CoreSampledBlock> blocks;  // sorted by address
  std::unordered_map<std::uint32_t, std::vector<std::uintptr_t>> stacks;  // id -> pcs, innermost first
  std::string note;  // "" when the tables were read or absent; else why they were not used
};

CoreSampledSites read_sampled_sites(const MemoryImage& image, const CoreSymbols& symbols);

}  // namespace syncscope::retain::internal
