// glibc allocations for sampled requests: each sampled block sits behind a
// prefix (sampled_prefix.h) whose tag word free() tells from a glibc chunk
// header, so free() rules out every other block from its header word alone
// (issue 16, item 3).
//
// Implementation notes
//   The request is made kSampledPrefixBytes (or its alignment, if larger)
//   bigger; glibc places the chunk wherever its malloc, calloc or memalign
//   puts any other, so the heap keeps the program's own layout. A block
//   with a prefix never goes back to glibc itself: free and realloc hand
//   glibc the chunk's pointer (free_to_glibc), and realloc moves a sampled
//   block (a copy into a new block) instead of resizing it in place.
//
//   Below kTaggedSamplingMinRate (rate 1 in tests and exact-weight runs)
//   nearly every request is sampled, and a prefix on each would change the
//   heap's layout everywhere: those samples keep glibc's block, and the free
//   path's tag test is switched off for good (every free goes to the
//   sampled heap's bitmap: slower, never wrong). So is it when glibc cannot
//   serve the larger request but could serve the request itself.
//
// Only the interposers' slow paths include this (one request in about
// SYNCSCOPE_PROFILE_RATE bytes is sampled). Nothing here allocates beyond
// the glibc calls themselves, locks or throws.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "prof/heap_recorder.h"
#include "prof/hooks/glibc_real.h"
#include "prof/sampled_heap.h"
#include "prof/sampled_prefix.h"

namespace syncscope::prof::internal {

// Alignments above this are not given a prefix (it would cost the alignment
// itself: one more such block's worth of address space).
inline constexpr std::size_t kMaxPrefixedAlignment = std::size_t{1} << 16;

// The block for a sampled request of `size` bytes at `alignment` (0:
// malloc's own) from alloc(n), a glibc allocation of n bytes at that
// alignment: behind a prefix when tag_samples() (sampled_prefix.h), else
// glibc's block itself. nullptr when glibc has no memory.
template <class Alloc>
void* alloc_sampled(std::size_t size, std::size_t alignment, Alloc alloc) noexcept {
  if (tag_samples() && alignment <= kMaxPrefixedAlignment) {
    // glibc rounds an alignment up to a power of two; so does the offset.
    const std::size_t offset = std::bit_ceil(alignment > kSampledPrefixBytes ? alignment : kSampledPrefixBytes);
    void* q = size <= ~std::size_t{0} - offset ? alloc(size + offset) : nullptr;
    if (q != nullptr) {
      auto* words = static_cast<std::size_t*>(q);
      words[0] = kSampledPrefixMagic;
      words[1] = sampled_tag(offset);
      auto* p = static_cast<std::byte*>(q) + offset;
      reinterpret_cast<std::size_t*>(p)[-1] = sampled_tag(offset);
      return p;
    }
  }
  // Rate below kTaggedSamplingMinRate (tag_samples() noted it), an
  // alignment too large for a prefix, or no memory for the larger request.
  void* p = alloc(size);
  if (p != nullptr) SampledHeap::instance().note_untagged_sample();
  return p;
}

// glibc's block of `size` bytes at `alignment` (0: malloc's own), behind a
// prefix when `sample` (the request was sampled).
inline void* glibc_alloc(std::size_t size, std::size_t alignment, bool sample) noexcept {
  if (alignment != 0) {
    const auto aligned = [alignment](std::size_t n) noexcept { return __libc_memalign(alignment, n); };
    return sample ? alloc_sampled(size, alignment, aligned) : aligned(size);
  }
  return sample ? alloc_sampled(size, 0, [](std::size_t n) noexcept { return __libc_malloc(n); })
                : __libc_malloc(size);
}

// Gives the in-use block p (non-null) back to glibc. A block behind a
// prefix goes back as glibc's pointer, its magic cleared first: glibc may
// later carve a chunk at the same place, and its first words, stale until
// its program writes them, must not look like a prefix to a heap walker.
inline void free_to_glibc(void* p) noexcept {
  const std::size_t word = chunk_head(p);
  if (!is_sampled_tag(word)) return __libc_free(p);
  auto* q = reinterpret_cast<std::size_t*>(static_cast<std::byte*>(p) - sampled_offset(word));
  q[0] = 0;
  __libc_free(q);
}

// realloc of `old` (non-null, usable size old_usable) to `size` bytes, as
// glibc's realloc does it, into a sampled block (behind a prefix) when
// `sample`. glibc resizes its own blocks; a block with a prefix on either
// side is moved: a new block, the contents copied, the old one freed. The
// old block is freed only when the new one exists; nullptr (old intact)
// when there is no memory. size 0 frees old and returns nullptr, as glibc's
// realloc does.
inline void* realloc_block(void* old, std::size_t old_usable, std::size_t size, bool sample) noexcept {
  const bool old_prefixed = is_sampled_tag(chunk_head(old));
  if (!sample && !old_prefixed) return __libc_realloc(old, size);
  if (size == 0) {
    free_to_glibc(old);
    return nullptr;
  }
  void* p = glibc_alloc(size, 0, sample);
  if (p == nullptr) return nullptr;
  std::memcpy(p, old, old_usable < size ? old_usable : size);
  free_to_glibc(old);
  return p;
}

}  // namespace syncscope::prof::internal
