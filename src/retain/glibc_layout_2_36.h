// glibc malloc's in-memory layout, as of glibc 2.36 (Debian 12), 64-bit.
// Everything the heap walk knows about glibc's structures is in this file;
// another layout is another file of this shape and one more entry in
// glibc_layouts() (glibc_heap_walker.cc).
//
// Source of the facts: glibc 2.36 malloc/malloc.c (struct malloc_state,
// tcache_perthread_struct, tcache_entry, PROTECT_PTR) and malloc/arena.c
// (heap_info, HEAP_MAX_SIZE, _int_new_arena). The same structures hold from
// 2.34 (random tcache_key, safe-linking since 2.32) to at least 2.39.
//
//   struct malloc_state {                      offset
//     int mutex;                               0     (0 = unlocked)
//     int flags;                               4
//     int have_fastchunks;                     8
//     mchunkptr fastbinsY[10];                 16    (safe-linked lists)
//     mchunkptr top;                           96
//     mchunkptr last_remainder;                104
//     mchunkptr bins[254];                     112   (fd/bk pairs; bin i's header
//                                                     is &bins[2(i-1)] - 16)
//     unsigned binmap[4];                      2144
//     struct malloc_state *next;               2160  (circular, through main_arena)
//     struct malloc_state *next_free;          2168
//     size_t attached_threads;                 2176
//     size_t system_mem;                       2184
//     size_t max_system_mem;                   2192
//   };                                         2200
//
//   chunk:  [prev_size][size | A(4) | M(2) | P(1)][user data ...]
//           A = NON_MAIN_ARENA, M = IS_MMAPPED, P = PREV_INUSE (of the chunk
//           before). A chunk is in use iff the next chunk's P bit is set and
//           it sits in no fastbin and no tcache (those keep P set).
//           usable size = chunk size - 8 (mmapped: - 16).
#pragma once

#include <cstddef>
#include <cstdint>

namespace syncscope::retain::internal {

struct GlibcLayout {
  const char* name;
  // malloc_state
  std::size_t arena_mutex, arena_fastbins, fastbin_count, arena_top, arena_bins, bin_words,
      arena_next, arena_system_mem, arena_size;
  // heap_info (non-main arenas' heaps, aligned to heap_max)
  std::size_t heap_info_size, heap_ar_ptr, heap_prev, heap_size;
  std::uintptr_t heap_max;
  // chunks
  std::size_t min_chunk, alignment, chunk_header;
  std::uint64_t prev_inuse, is_mmapped, non_main_arena;
  // tcache
  std::size_t tcache_bins, tcache_struct_chunk, tcache_entries, tcache_max_chunk, tcache_key_offset;
};

inline constexpr GlibcLayout kGlibc236{
    .name = "glibc 2.34-2.39 (x86-64/aarch64)",
    .arena_mutex = 0,
    .arena_fastbins = 16,
    .fastbin_count = 10,
    .arena_top = 96,
    .arena_bins = 112,
    .bin_words = 254,
    .arena_next = 2160,
    .arena_system_mem = 2184,
    .arena_size = 2200,
    .heap_info_size = 48,
    .heap_ar_ptr = 0,
    .heap_prev = 8,
    .heap_size = 16,
    .heap_max = std::uintptr_t{64} << 20,
    .min_chunk = 32,
    .alignment = 16,
    .chunk_header = 16,
    .prev_inuse = 1,
    .is_mmapped = 2,
    .non_main_arena = 4,
    .tcache_bins = 64,
    .tcache_struct_chunk = 0x290,
    .tcache_entries = 128,
    .tcache_max_chunk = 0x410,
    .tcache_key_offset = 8,
};

static_assert(sizeof(void*) == 8, "the glibc 2.36 layout is the 64-bit one");
static_assert(kGlibc236.arena_bins + kGlibc236.bin_words * 8 + 16 == kGlibc236.arena_next,
              "binmap (4 x unsigned) sits between bins and next");
static_assert(kGlibc236.tcache_entries == kGlibc236.tcache_bins * 2,
              "tcache counts are uint16_t[64] before the entries");
static_assert(kGlibc236.tcache_struct_chunk ==
                  kGlibc236.tcache_entries + kGlibc236.tcache_bins * 8 + kGlibc236.chunk_header,
              "tcache_perthread_struct (640 bytes) in a 0x290-byte chunk");

}  // namespace syncscope::retain::internal
