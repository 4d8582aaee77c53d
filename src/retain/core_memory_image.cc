// CoreMemoryImage (see core_memory_image.h).
#include "retain/core_memory_image.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace syncscope::retain::internal {

CoreMemoryImage::CoreMemoryImage(const CoreFile& core) {
  const auto& files = core.mapped_files();
  for (const CoreSegment& s : core.segments()) {
    Mapping m;
    m.start = s.vaddr;
    m.end = s.vaddr + s.mem_size;
    m.readable = s.readable && s.file_size > 0;
    m.writable = s.writable;
    m.anonymous = std::none_of(files.begin(), files.end(), [&](const CoreMappedFile& f) {
      return f.start < m.end && m.start < f.end;
    });
    maps_.push_back(m);
    backing_.push_back(Backing{s.file_size > 0 ? core.segment_bytes(s) : nullptr, s.file_size});
  }
}

const std::byte* CoreMemoryImage::view(std::uintptr_t addr, std::size_t len) const noexcept {
  const Mapping* m = region_of(addr);
  if (m == nullptr || !m->readable || addr + len < addr) return nullptr;
  const Backing& b = backing_[static_cast<std::size_t>(m - maps_.data())];
  const std::uint64_t off = addr - m->start;
  if (len <= b.dumped - off && off <= b.dumped) return b.bytes + off;
  // Spans into the next region: served only when the file holds both
  // contiguously (a module's .data and .bss dumped back to back).
  const ImageWindow w = window(addr);
  return w.data != nullptr && len <= w.end - addr ? w.data + (addr - w.begin) : nullptr;
}

ImageWindow CoreMemoryImage::window(std::uintptr_t addr) const noexcept {
  const Mapping* m = region_of(addr);
  if (m == nullptr || !m->readable) return {};
  std::size_t i = static_cast<std::size_t>(m - maps_.data());
  if (addr - m->start >= backing_[i].dumped) return {};
  ImageWindow w{m->start, m->start + backing_[i].dumped, backing_[i].bytes};
  // Extend over following regions that are fully dumped and follow both in
  // memory and in the file.
  while (w.end == maps_[i].end && i + 1 < maps_.size() && maps_[i + 1].start == w.end && maps_[i + 1].readable &&
         backing_[i + 1].bytes == w.data + (w.end - w.begin)) {
    ++i;
    w.end = maps_[i].start + backing_[i].dumped;
  }
  return w;
}

bool CoreMemoryImage::resident(std::uintptr_t addr, std::size_t len, unsigned char* out) const noexcept {
  const Mapping* m = region_of(addr);
  if (m == nullptr) return false;
  const Backing& b = backing_[static_cast<std::size_t>(m - maps_.data())];
  const std::size_t page = static_cast<std::size_t>(::getpagesize());
  const std::size_t pages = (len + page - 1) / page;
  for (std::size_t p = 0; p < pages; ++p) {
    const std::uint64_t off = addr - m->start + p * page;
    out[p] = m->readable && off < b.dumped ? 1 : 0;
  }
  return true;
}

}  // namespace syncscope::retain::internal
