// A memory image: the bytes of some process's address space, read through
// one interface so the heap walk (and later the whole retention analysis)
// runs unchanged over this process while its threads are stopped, over a
// fork()ed copy-on-write child, or over an ELF core file.
//
// Contract of every implementation:
//   - regions() lists the mappings sorted by address, non-overlapping;
//   - view(addr, len) returns a pointer to `len` bytes equal to the image's
//     bytes at [addr, addr + len) when that range lies inside one readable
//     region, and nullptr otherwise. It never faults, never allocates and
//     takes no lock (it is called while the world is stopped); the pointer
//     stays valid as long as the image does.
//   - window(addr) returns the largest run of contiguous readable bytes
//     around addr that one pointer serves (data == nullptr when addr is not
//     readable): ImageCursor uses it so a scan over sorted addresses pays
//     one lookup per region instead of one per block.
//   - resident(addr, len, out) fills one byte per page (nonzero = the page
//     holds data: resident in the live process, present in a core) so a walk
//     can skip pages no chunk header can be on without touching them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "retain/mmap_buffer.h"
#include "retain/proc_maps.h"

namespace syncscope::retain::internal {

// Contiguous readable bytes [begin, end) of an image, at data.
struct ImageWindow {
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;
  const std::byte* data = nullptr;
};

class MemoryImage {
 public:
  virtual ~MemoryImage() = default;
  virtual std::span<const Mapping> regions() const noexcept = 0;
  virtual const std::byte* view(std::uintptr_t addr, std::size_t len) const noexcept = 0;
  // true when the image is this process' own memory (the walker then skips
  // its own scratch buffers, which are in it); false for a core file, whose
  // addresses merely may coincide with ours.
  virtual bool is_this_process() const noexcept { return false; }
  // Default: no window (ImageCursor then falls back to view()).
  virtual ImageWindow window(std::uintptr_t) const noexcept { return {}; }
  // PRECONDITION: addr page-aligned, [addr, addr + len) inside one region.
  // false when the range is not (or no longer) mapped: do not read it.
  virtual bool resident(std::uintptr_t addr, std::size_t len, unsigned char* out) const noexcept = 0;

  // The region containing addr, or nullptr. O(log regions).
  const Mapping* region_of(std::uintptr_t addr) const noexcept;
  // One machine word; false when it is not readable.
  bool read_word(std::uintptr_t addr, std::uintptr_t& out) const noexcept {
    const std::byte* p = view(addr, sizeof(std::uintptr_t));
    if (p == nullptr) return false;
    std::memcpy(&out, p, sizeof out);
    return true;
  }
};

// This process, read in place. Regions come from /proc/self/maps as read by
// the caller (read_proc_maps) while the world is stopped; the image is valid
// only until the threads resume.
class LiveMemoryImage final : public MemoryImage {
 public:
  explicit LiveMemoryImage(const MmapBuffer<Mapping>& maps) noexcept : maps_(maps) {}
  std::span<const Mapping> regions() const noexcept override { return {maps_.data(), maps_.size()}; }
  const std::byte* view(std::uintptr_t addr, std::size_t len) const noexcept override;
  ImageWindow window(std::uintptr_t addr) const noexcept override;
  bool resident(std::uintptr_t addr, std::size_t len, unsigned char* out) const noexcept override;
  bool is_this_process() const noexcept override { return true; }

 private:
  const MmapBuffer<Mapping>& maps_;
};

// Reads an image at mostly increasing addresses (sorted blocks, root
// ranges): keeps the last window, so consecutive reads in one region cost a
// compare instead of a virtual call and a region search. Not thread-safe;
// one per scanning loop.
class ImageCursor {
 public:
  explicit ImageCursor(const MemoryImage& image) noexcept : image_(image) {}
  // As MemoryImage::view.
  const std::byte* view(std::uintptr_t addr, std::size_t len) noexcept {
    if (addr >= window_.begin && addr < window_.end && len <= window_.end - addr)
      return window_.data + (addr - window_.begin);
    return refill(addr, len);
  }
  // A hint that addr will be read soon: prefetched when it lies in the
  // current window, else nothing (never reads, never faults).
  void prefetch(std::uintptr_t addr) const noexcept {
    if (addr >= window_.begin && addr < window_.end) __builtin_prefetch(window_.data + (addr - window_.begin));
  }

 private:
  const std::byte* refill(std::uintptr_t addr, std::size_t len) noexcept {
    window_ = image_.window(addr);
    if (window_.data != nullptr && addr >= window_.begin && addr < window_.end && len <= window_.end - addr)
      return window_.data + (addr - window_.begin);
    return image_.view(addr, len);  // spans windows, or unreadable
  }

  const MemoryImage& image_;
  ImageWindow window_;  // the last window read; empty at first
};

}  // namespace syncscope::retain::internal
