// The live implementation of MemoryImage, and the region lookup every
// implementation shares.
#include "retain/memory_image.h"

#include <sys/mman.h>

#include <algorithm>

namespace syncscope::retain::internal {

const Mapping* MemoryImage::region_of(std::uintptr_t addr) const noexcept {
  const std::span<const Mapping> r = regions();
  const Mapping* it = std::upper_bound(r.data(), r.data() + r.size(), addr,
                                       [](std::uintptr_t a, const Mapping& m) { return a < m.start; });
  if (it == r.data()) return nullptr;
  --it;
  return addr < it->end ? it : nullptr;
}

// A range may span adjacent readable mappings (libc's .data and its .bss
// are two): in this process they are contiguous memory.
const std::byte* LiveMemoryImage::view(std::uintptr_t addr, std::size_t len) const noexcept {
  const Mapping* m = region_of(addr);
  const Mapping* const last = maps_.data() + maps_.size();
  if (addr + len < addr) return nullptr;
  while (m != nullptr && m->readable && m->end < addr + len) {
    const Mapping* next = m + 1;
    m = next < last && next->start == m->end ? next : nullptr;
  }
  return m != nullptr && m->readable ? reinterpret_cast<const std::byte*>(addr) : nullptr;
}

ImageWindow LiveMemoryImage::window(std::uintptr_t addr) const noexcept {
  const Mapping* m = region_of(addr);
  if (m == nullptr || !m->readable) return {};
  const Mapping* const last = maps_.data() + maps_.size();
  const Mapping* first = m;
  while (first > maps_.data() && (first - 1)->readable && (first - 1)->end == first->start) --first;
  while (m + 1 < last && (m + 1)->readable && (m + 1)->start == m->end) ++m;
  return ImageWindow{first->start, m->end, reinterpret_cast<const std::byte*>(first->start)};
}

bool LiveMemoryImage::resident(std::uintptr_t addr, std::size_t len, unsigned char* out) const noexcept {
  return ::mincore(reinterpret_cast<void*>(addr), len, out) == 0;
}

}  // namespace syncscope::retain::internal
