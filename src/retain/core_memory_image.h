// The memory image of a core file (memory_image.h): one region per PT_LOAD
// segment, its bytes served straight from the core's read-only mapping.
//
// A segment's part beyond its file size was not dumped (gcore and the kernel
// leave out file-backed pages they can read back from the file; sparse
// zero pages): view() refuses it and resident() reports it absent, so the
// walk never mistakes missing pages for zeros. A region is `anonymous`
// when no NT_FILE entry covers it (heaps, stacks, mmapped chunks).
//
// Thread safety: immutable after construction; the CoreFile must outlive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "retain/core_file.h"
#include "retain/memory_image.h"
#include "retain/mmap_buffer.h"
#include "retain/proc_maps.h"

namespace syncscope::retain::internal {

class CoreMemoryImage final : public MemoryImage {
 public:
  explicit CoreMemoryImage(const CoreFile& core);
  std::span<const Mapping> regions() const noexcept override { return {maps_.data(), maps_.size()}; }
  const std::byte* view(std::uintptr_t addr, std::size_t len) const noexcept override;
  ImageWindow window(std::uintptr_t addr) const noexcept override;
  bool resident(std::uintptr_t addr, std::size_t len, unsigned char* out) const noexcept override;
  // The regions as the root-range helpers take them (proc_maps.h).
  const MmapBuffer<Mapping>& maps() const noexcept { return maps_; }

 private:
  // [i] describes maps_[i]; bytes_[i] is nullptr when nothing was dumped.
  struct Backing {
    const std::byte* bytes = nullptr;
    std::uint64_t dumped = 0;  // bytes of the region present in the file, from its start
  };
  MmapBuffer<Mapping> maps_;     // one per segment, sorted
  MmapBuffer<Backing> backing_;  // parallel to maps_
};

}  // namespace syncscope::retain::internal
