// A frame's shape: how to find its caller's frame from its own registers at
// one instruction, reduced to what an x86-64 stack walk needs. DWARF call
// frame information (the .eh_frame section) can say much more; a shape
// holds only the common case, and describe_frame refuses the rest (so the
// caller walks that stack another way):
//
//   CFA        = rsp + cfa_offset            or  rbp + cfa_offset
//   return PC  = *(CFA - 8)                      (always, on x86-64 SysV)
//   caller rbp = *(CFA + rbp_offset)         or  unchanged
//   caller rsp = CFA
//
// Refused: a CFA or rbp given by a DWARF expression or another register
// (realigned stacks, PLT stubs), signal-handler frames (the CIE's 'S'), a
// return address anywhere but CFA - 8, 64-bit DWARF, and anything unknown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "prof/shape_unwind/table_source.h"

namespace syncscope::prof::internal {

struct FrameShape {
  bool cfa_from_rbp = false;  // CFA = rbp + cfa_offset; otherwise rsp + cfa_offset
  bool rbp_saved = false;     // the caller's rbp is at CFA + rbp_offset
  bool outermost = false;     // the return address is undefined: no caller (_start, thread entry)
  std::int32_t cfa_offset = 0;
  std::int32_t rbp_offset = 0;  // meaningful only when rbp_saved

  bool operator==(const FrameShape&) const = default;

  // One word for the process-wide cache; never 0 (0 marks an empty slot).
  // bit 0: present; 1: cfa_from_rbp; 2: rbp_saved; 3: outermost; bits 8-31:
  // rbp_offset (24 bits, signed); bits 32-63: cfa_offset. Inline: the walk
  // unpacks a word per frame (34 frames a sample in python3's threads).
  std::uint64_t pack() const noexcept {
    std::uint64_t word = 1;
    if (cfa_from_rbp) word |= 2;
    if (rbp_saved) word |= 4;
    if (outermost) word |= 8;
    word |= (static_cast<std::uint64_t>(static_cast<std::uint32_t>(rbp_offset)) & 0xffffffu) << 8;
    word |= static_cast<std::uint64_t>(static_cast<std::uint32_t>(cfa_offset)) << 32;
    return word;
  }
  static FrameShape unpack(std::uint64_t word) noexcept {
    FrameShape shape;
    shape.cfa_from_rbp = (word & 2) != 0;
    shape.rbp_saved = (word & 4) != 0;
    shape.outermost = (word & 8) != 0;
    // Sign-extend the 24-bit field.
    shape.rbp_offset = static_cast<std::int32_t>(static_cast<std::uint32_t>(word >> 8) << 8) >> 8;
    shape.cfa_offset = static_cast<std::int32_t>(static_cast<std::uint32_t>(word >> 32));
    return shape;
  }
};

// The last CIE (common information entry) read from one module, kept by a
// caller that describes several frames of that module in a row: most of a
// module's FDEs share one of a few CIEs, so this saves a read per frame.
struct CieMemo {
  static constexpr std::size_t kMaxBytes = 256;  // larger CIEs are read every time
  std::uint64_t vaddr = 0;  // link-time address of the CIE held; 0: none
  std::uint32_t size = 0;   // bytes after its length word
  std::uint8_t bytes[kMaxBytes];
};

// The shape at link-time address `pc` of the function whose FDE (frame
// description entry) starts at link-time address `fde`, read from `source`.
// Empty when the FDE does not cover `pc` or says something a shape cannot.
// Allocation-free; reads into stack buffers (FDEs and CIEs over 1 KiB are
// refused). `memo`, when given, must only ever have seen this module.
std::optional<FrameShape> describe_frame(const TableSource& source, std::uint64_t fde,
                                         std::uint64_t pc, CieMemo* memo = nullptr) noexcept;

}  // namespace syncscope::prof::internal
