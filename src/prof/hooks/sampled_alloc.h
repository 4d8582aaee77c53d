// glibc allocations for sampled requests: each sampled block gets a chunk
// that SampledHeap::tagged() recognizes, so free() can rule out every other
// block from its chunk header alone (sampled_heap.h, issue 16, item 3).
//
// Implementation notes
//   The request is padded (SampledHeap::tagged_request) so that glibc's
//   chunk size is a multiple of SampledHeap::kSampledChunkQuantum; the block
//   stays wherever glibc's malloc, calloc, memalign or realloc puts it, so
//   the heap keeps the program's own layout. glibc's chunk may be 16 bytes
//   larger than asked (a free chunk it does not split for 16 bytes) or 32
//   (a trailer memalign keeps); SampledHeap::tagged() accepts both. Should
//   glibc ever hand out another size, that chunk is held while glibc is
//   asked again (it then has to pick another one), and given back
//   afterwards. After kTagRetries such chunks the last one is used and the
//   tag test is
//   switched off for the rest of the process (every free goes to the
//   bitmap, as at low sampling rates): slower, never wrong.
//
// Only the interposers' slow paths include this (one request in about
// SYNCSCOPE_PROFILE_RATE bytes is sampled). Nothing here allocates beyond
// the glibc calls themselves, locks or throws.
#pragma once

#include <cstddef>
#include <cstring>

#include "prof/heap_recorder.h"
#include "prof/hooks/glibc_real.h"
#include "prof/sampled_heap.h"

namespace syncscope::prof::internal {

// Untagged chunks held before giving up on a tagged one.
inline constexpr int kTagRetries = 4;

// A block for a sampled request of `size` bytes from alloc(n), a glibc
// allocation of n bytes; its chunk is tagged unless note_untagged_sample()
// was called (a rate below kTaggedSamplingMinRate, or kTagRetries untagged
// chunks in a row). nullptr when glibc has no memory.
template <class Alloc>
void* alloc_sampled(std::size_t size, Alloc alloc) noexcept {
  if (!tag_samples()) return alloc(size);
  const std::size_t n = SampledHeap::tagged_request(size);
  void* held[kTagRetries];
  int kept = 0;
  void* p = alloc(n);
  while (p != nullptr && !SampledHeap::tagged(chunk_head(p)) && kept < kTagRetries) {
    held[kept++] = p;
    p = alloc(n);
  }
  if (p == nullptr && kept > 0) p = held[--kept];  // out of memory: keep an untagged one
  if (p != nullptr && !SampledHeap::tagged(chunk_head(p))) SampledHeap::instance().note_untagged_sample();
  for (int i = 0; i < kept; ++i) __libc_free(held[i]);
  return p;
}

// glibc's block of `size` bytes at `alignment` (0: malloc's own), tagged
// when `sample` (the request was sampled).
inline void* glibc_alloc(std::size_t size, std::size_t alignment, bool sample) noexcept {
  if (alignment != 0) {
    const auto aligned = [alignment](std::size_t n) noexcept { return __libc_memalign(alignment, n); };
    return sample ? alloc_sampled(size, aligned) : aligned(size);
  }
  return sample ? alloc_sampled(size, [](std::size_t n) noexcept { return __libc_malloc(n); }) : __libc_malloc(size);
}

// realloc of `old` (usable size old_usable) into a sampled block of `size`
// (> 0) bytes: glibc's realloc to the padded size (in place when it can),
// then, if glibc's chunk is untagged, a move into a tagged one. The old
// block is freed only when the new one exists; nullptr (old intact) when
// glibc has no memory.
inline void* realloc_sampled(void* old, std::size_t old_usable, std::size_t size) noexcept {
  if (!tag_samples()) return __libc_realloc(old, size);
  void* p = __libc_realloc(old, SampledHeap::tagged_request(size));
  if (p == nullptr || SampledHeap::tagged(chunk_head(p))) return p;
  void* q = glibc_alloc(size, 0, true);
  if (q == nullptr) {
    SampledHeap::instance().note_untagged_sample();
    return p;
  }
  std::memcpy(q, p, old_usable < size ? old_usable : size);
  __libc_free(p);
  return q;
}

}  // namespace syncscope::prof::internal
