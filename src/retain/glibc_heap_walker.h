// The glibc heap walk: every block the program holds, read from malloc's own
// structures instead of recorded by hooks, so retention works for a program
// that never turned exact mode on (DESIGN §1, "block source").
//
// What it walks (layout facts in glibc_layout_*.h):
//   - the main arena, found in libc's data by its shape (empty bins point at
//     themselves) and validated (top chunk, arena list closing on itself);
//   - every arena on main_arena.next, each heap of a non-main arena (heap_info
//     at a heap_max-aligned address, chained by prev);
//   - the chunks of each heap in address order, a chunk being in use when the
//     next chunk's PREV_INUSE bit says so;
//   - minus the chunks that look in use but are free: fastbin lists
//     (safe-linked) and tcache entries (found through each thread's
//     tcache_perthread_struct, validated entry by entry: sizes, one key,
//     safe-linked chains matching their counts);
//   - plus mmapped chunks, found at page starts of anonymous mappings that no
//     arena owns (headers validated; non-resident pages are not touched).
//   - a chunk of a block the heap profiler sampled is reported as the
//     program's block past the prefix (prof/sampled_prefix.h: the prefix's
//     magic, then a valid tag), so the block has the address the program
//     holds and the heap profiler recorded.
//
// Safety: the walk reads only through MemoryImage::view (never outside a
// readable region), validates every header it steps over (size, alignment,
// arena bit, bounds, the footer of a free chunk) and stops at the first
// inconsistency with "heap layout not recognised: <what, where>"; it never
// guesses. It allocates nothing through malloc (MmapBuffers only), so it
// runs while the world is stopped.
//
// Live use: an arena whose mutex is held belongs to a thread stopped inside
// malloc or free: the walk returns kBusy without reading that arena's chunks,
// and the caller resumes the world and tries again (bounded).
//
// Known blind spots (documented in docs/retain.md): a chunk whose free()
// was interrupted between its fastbin link and the list head's CAS is
// reported in use; a tcache_perthread_struct with every bin empty is reported
// as a block (it is indistinguishable from a zeroed 640-byte allocation);
// mmapped chunks whose header page was swapped out, or aligned beyond 4 KiB,
// are missed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "retain/glibc_layout_2_36.h"
#include "retain/memory_image.h"
#include "retain/mmap_buffer.h"
#include "retain/proc_maps.h"
#include "syncscope/retain/object_graph.h"

namespace syncscope::retain::internal {

struct HeapWalkStats {
  std::uint64_t arenas = 0;
  std::uint64_t heaps = 0;            // main heap + non-main arenas' heaps
  std::uint64_t max_heaps_per_arena = 0;  // of the non-main arenas
  std::uint64_t chunks = 0;           // every chunk stepped over (top excluded)
  std::uint64_t in_use_blocks = 0;    // reported blocks (mmapped included)
  std::uint64_t in_use_bytes = 0;     // their usable bytes
  std::uint64_t fastbin_chunks = 0;   // free, found on fastbin lists
  std::uint64_t tcache_chunks = 0;    // free, found in tcaches
  std::uint64_t mmapped_chunks = 0;
  std::uint64_t heap_bytes = 0;       // bytes of arena heaps walked (headers only)
  std::uint64_t free_chunks = 0;      // free chunks of arena heaps (fastbin and tcache ones included)
  std::uint64_t free_bytes = 0;       // their chunk sizes (headers included)
  std::uint64_t top_bytes = 0;        // the top chunks' sizes (free space at each heap's end)
  bool tcache_key_known = false;
};

enum class WalkStatus {
  kOk,
  kBusy,           // an arena's mutex is held: retry after letting threads run
  kNotRecognised,  // message says what and where
};

struct HeapWalkResult {
  WalkStatus status = WalkStatus::kOk;
  char message[240] = {};
  HeapWalkStats stats;
};

class GlibcHeapWalker {
 public:
  explicit GlibcHeapWalker(const GlibcLayout& layout = kGlibc236) noexcept : layout_(layout) {}

  // Fills `out` (cleared first) with every in-use block (user address,
  // usable size, site 0), sorted by address; empty unless kOk. `arena_search`: the writable ranges that may hold
  // main_arena (libc's data segments, or the executable's when libc is
  // linked statically). `not_mmapped`: sorted ranges the mmapped-chunk
  // search skips (the caller's own buffers). Never allocates through malloc.
  HeapWalkResult walk(const MemoryImage& image, std::span<const Range> arena_search,
                      std::span<const Range> not_mmapped, MmapBuffer<GraphBlock>& out) noexcept;

  // Finds the main arena and every arena on its list, and checks that none
  // is locked (kBusy otherwise): the first step of walk(), cheap enough to
  // decide, while the world is stopped, whether a walk can start now.
  HeapWalkResult list_arenas(const MemoryImage& image, std::span<const Range> arena_search) noexcept;

  // The main arena found by the last successful walk (0 before): the next
  // walk validates it first instead of searching.
  std::uintptr_t main_arena() const noexcept { return main_arena_; }

 private:
  struct Walk;  // one walk's state (glibc_heap_walker.cc)

  const GlibcLayout& layout_;
  std::uintptr_t main_arena_ = 0;
  // Scratch, reused across walks (mmap'ed; never malloc).
  MmapBuffer<std::uintptr_t> arenas_;
  MmapBuffer<std::uintptr_t> free_chunks_;    // fastbin + tcache chunk addresses
  MmapBuffer<std::uintptr_t> tcache_structs_; // candidate tcache_perthread_struct chunks
  MmapBuffer<Range> arena_heaps_;             // [begin, end) of every walked heap, sorted
  MmapBuffer<unsigned char> residency_;
};

}  // namespace syncscope::retain::internal
