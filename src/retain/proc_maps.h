// /proc/self/maps read and parsed without malloc (the world is stopped), and
// the root-range arithmetic that needs it: clipping a range to readable
// mappings and cutting excluded ranges (live blocks, the scanner's own
// memory) out of it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "retain/heap_scanner.h"
#include "retain/mmap_buffer.h"

namespace syncscope::retain::internal {

// One line of /proc/self/maps (or one segment of a core): the region type of
// every memory image (memory_image.h).
struct Mapping {
  std::uintptr_t start = 0;
  std::uintptr_t end = 0;
  bool readable = false;
  bool writable = false;
  bool anonymous = false;  // no file behind it (inode 0): heaps, stacks, mmap'ed chunks
  bool brk_heap = false;   // the kernel's "[heap]": the program break's region
};

// Mappings sorted by address (as the kernel lists them). false on I/O error.
bool read_proc_maps(MmapBuffer<char>& text, MmapBuffer<Mapping>& out) noexcept;

// The mapping containing addr, or nullptr. O(log n).
const Mapping* find_mapping(const MmapBuffer<Mapping>& maps, std::uintptr_t addr) noexcept;

struct Range {
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;
};

// Appends to `out` the parts of `root` that lie in readable mappings and
// outside every block of `blocks` (sorted) and every range of `excluded`
// (sorted, non-overlapping).
void add_root_pieces(const RawRoot& root, const MmapBuffer<Mapping>& maps, const GraphBlock* blocks,
                     std::size_t block_count, const Range* excluded, std::size_t excluded_count,
                     MmapBuffer<RawRoot>& out) noexcept;

}  // namespace syncscope::retain::internal
