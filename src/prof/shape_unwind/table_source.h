// Where a module's unwind tables are read from. Addresses are the module's
// link-time virtual addresses (the runtime address minus the load bias), so
// the same parser reads a module's file (pread, without mapping a page into
// the process) or, in tests, its mapped image.
#pragma once

#include <cstddef>
#include <cstdint>

namespace syncscope::prof::internal {

class TableSource {
 public:
  virtual ~TableSource() = default;
  // Copies `n` bytes at link-time address `vaddr` to `out`. False when any
  // of them lies outside the module's loaded segments or cannot be read.
  virtual bool read(std::uint64_t vaddr, void* out, std::size_t n) const noexcept = 0;
};

// Reads a module's loaded image in place (the bytes at load bias + vaddr).
// For tests, and for modules whose file cannot be opened; it touches the
// pages it reads, as libgcc's and libunwind's unwinders do.
class MappedImageSource final : public TableSource {
 public:
  // `bias`: load address minus link-time address. [lo, hi): the link-time
  // range reads may cover.
  MappedImageSource(std::uintptr_t bias, std::uint64_t lo, std::uint64_t hi) noexcept
      : bias_(bias), lo_(lo), hi_(hi) {}
  bool read(std::uint64_t vaddr, void* out, std::size_t n) const noexcept override;

 private:
  std::uintptr_t bias_;  // runtime address = link-time address + bias_
  std::uint64_t lo_;     // lowest readable link-time address
  std::uint64_t hi_;     // one past the highest
};

}  // namespace syncscope::prof::internal
