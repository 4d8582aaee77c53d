// The prefix of a sampled block: how free() knows a sampled block from its
// header word alone, and how a heap walker finds the block in its chunk
// (issue 16, items 3 and 4).
//
// Layout
//   A sampled request of n bytes at alignment a (16 for malloc's own) gets a
//   glibc chunk for n + a bytes; the program's block p starts a bytes into
//   it, at q + a where q is glibc's pointer:
//
//     q[0]  kSampledPrefixMagic   (for heap walkers: chunk user data starts so)
//     q[1]  sampled_tag(a)        (the same word as p[-1] when a == 16)
//     ...   (a > 16: padding, then p[-1] = sampled_tag(a))
//     p     the program's block, n bytes
//
//   p[-1] is where an unsampled block has glibc's chunk header word: the
//   chunk size (a multiple of 16 on x86-64) with PREV_INUSE, IS_MMAPPED and
//   NON_MAIN_ARENA in bits 0-2. Bit 3 is therefore 0 in every glibc header
//   and 1 in every tag: free() tests one bit of the word it reads anyway
//   for its byte counters, and no unsampled free goes further.
//
//   A sampled block costs a bytes of its chunk (16 for all but aligned
//   requests) and nothing else: glibc places the chunk like any other.
//   An earlier form padded the request up to a chunk size that was a multiple
//   of 512 bytes (about 250 bytes a block on average, and 1 in 8 unsampled
//   frees of 512 bytes and more went on to a bitmap).
//
// Constants only: written by the interposers (hooks/sampled_alloc.h), read
// by the free path (heap_recorder.h) and by the heap walker, live and in
// core files (retain/glibc_heap_walker.cc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace syncscope::prof::internal {

// Bytes between glibc's pointer and a sampled block for a request at
// malloc's own alignment (16 on x86-64): room for the magic and the tag.
inline constexpr std::size_t kSampledPrefixBytes = 16;

// Set in a sampled block's tag word, clear in every glibc chunk header.
inline constexpr std::size_t kSampledTagBit = 8;

// The first word of a sampled block's chunk. A heap walker that finds it,
// followed by a valid tag, reports the block at the tag's offset.
inline constexpr std::uint64_t kSampledPrefixMagic = 0x5ca3b1ed'b10c'7a65ull;

// The tag word for a block `offset` bytes into its chunk (a power of two,
// at least kSampledPrefixBytes).
constexpr std::size_t sampled_tag(std::size_t offset) noexcept { return offset | kSampledTagBit; }

// Whether the word before a block (glibc's header word, or a tag) is a tag.
constexpr bool is_sampled_tag(std::size_t word) noexcept { return (word & kSampledTagBit) != 0; }

// The offset a tag word holds: the low four bits cleared.
constexpr std::size_t sampled_offset(std::size_t tag) noexcept { return tag & ~std::size_t{15}; }

// Whether `word` is a tag the interposers could have written: bit 3 alone of
// the low four, and a power-of-two offset of at least kSampledPrefixBytes.
// The heap walker checks it (with the magic) before trusting program data.
constexpr bool valid_sampled_tag(std::size_t word) noexcept {
  const std::size_t offset = sampled_offset(word);
  return (word & 15) == kSampledTagBit && offset >= kSampledPrefixBytes && (offset & (offset - 1)) == 0;
}

}  // namespace syncscope::prof::internal
