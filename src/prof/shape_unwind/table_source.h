// Where a module's unwind tables are read from. Addresses are the module's
// link-time virtual addresses (the runtime address minus the load bias): the
// parser (frame_shape.h, module_tables.h) reads them from the module's file
// with pread (ModuleFileSource), without mapping a page into the process.
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

}  // namespace syncscope::prof::internal
