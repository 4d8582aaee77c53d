// One loaded module's unwind tables, read from its file with pread so that
// looking a frame up maps none of the module's .eh_frame pages into the
// process (for a large program those pages are megabytes of resident
// memory: 2 MiB for cc1plus).
//
// A module is described once (describe_module): its file is opened by
// name, checked against the loaded image (ELF header, program headers and
// GNU build ID must match the copy mapped at the module's start), and a
// sparse copy of .eh_frame_hdr's sorted search table is kept: every
// kIndexStride-th entry's start address. find_fde then reads one stretch of
// kIndexStride entries to finish a lookup. Allocation-free: the sparse index,
// and the buffer the table is read through, live in memory handed in by the
// caller.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "prof/shape_unwind/table_source.h"

namespace syncscope::prof::internal {

// Entries of .eh_frame_hdr's table per entry of the sparse index.
inline constexpr std::uint32_t kIndexStride = 64;
// PT_LOAD segments kept per module; modules with more are refused.
inline constexpr int kMaxLoadSegments = 8;

struct LoadSegment {
  std::uint64_t vaddr = 0;     // link-time start
  std::uint64_t file_size = 0;  // bytes backed by the file
  std::uint64_t offset = 0;     // file offset of vaddr
};

// One entry of .eh_frame_hdr's sorted search table, in the encoding GCC's
// and LLVM's linkers write (DW_EH_PE_datarel | DW_EH_PE_sdata4): where a
// function starts and where its FDE is, both relative to the header.
struct SearchEntry {
  std::int32_t start;
  std::int32_t fde;
};
static_assert(sizeof(SearchEntry) == 8, "the table's pairs are two packed int32s");

// Search-table entries describe_module reads per pread through the buffer
// the registry gives it (32 KiB): cc1plus's 43,000 FDEs take 11 reads, not
// the 168 a 2 KiB stack buffer took, and python3's executable 4 for 55.
inline constexpr std::size_t kTableReadEntries = 4096;
static_assert(kTableReadEntries % kIndexStride == 0, "a read holds whole strides");

// The longest GNU build ID kept (SHA-1's 20 bytes is what linkers write).
inline constexpr std::size_t kMaxBuildIdBytes = 32;

// What describe_module learns; immutable afterwards.
struct ModuleTables {
  // The GNU build ID and its link-time address in the image: a module
  // loaded later over the same range is the same module only if the bytes
  // there are still these (same_build_id).
  std::uint8_t build_id[kMaxBuildIdBytes] = {};
  std::uint32_t build_id_size = 0;
  std::uint64_t build_id_vaddr = 0;
  dev_t device = 0;  // the file checked against the image; reopened files must match
  ino_t inode = 0;
  LoadSegment segments[kMaxLoadSegments];
  int segment_count = 0;
  std::uint64_t hdr_vaddr = 0;    // .eh_frame_hdr
  std::uint64_t table_vaddr = 0;  // its search table: fde_count pairs of int32 (datarel)
  std::uint32_t fde_count = 0;
  const std::int32_t* index = nullptr;  // every kIndexStride-th start, relative to hdr_vaddr
  std::uint32_t index_count = 0;
};

// The sparse index's length for `fde_count` FDEs.
constexpr std::uint32_t index_entries(std::uint32_t fde_count) noexcept {
  return (fde_count + kIndexStride - 1) / kIndexStride;
}

// Reads a module's file through a descriptor it owns, at link-time
// addresses (mapped to file offsets through the PT_LOAD segments).
class ModuleFileSource final : public TableSource {
 public:
  ModuleFileSource() = default;
  ~ModuleFileSource() override;
  ModuleFileSource(const ModuleFileSource&) = delete;
  ModuleFileSource& operator=(const ModuleFileSource&) = delete;

  // Opens `path` read-only if it is a regular file; with `tables`, only if it
  // is still the file describe_module checked (same device and inode).
  // False on failure. Never waits (O_NONBLOCK: a FIFO does not block).
  bool open(const char* path, const ModuleTables* tables) noexcept;
  void close() noexcept;
  bool is_open() const noexcept { return fd_ >= 0; }
  int fd() const noexcept { return fd_; }
  dev_t device() const noexcept { return device_; }  // of the open file
  ino_t inode() const noexcept { return inode_; }
  // Reads at a file offset.
  bool read_at_offset(std::uint64_t offset, void* out, std::size_t n) const noexcept;
  // Reads at a link-time address inside one of `tables`' segments.
  bool read(std::uint64_t vaddr, void* out, std::size_t n) const noexcept override;
  void set_tables(const ModuleTables* tables) noexcept { tables_ = tables; }

 private:
  int fd_ = -1;
  dev_t device_ = 0;  // fstat of fd_, when open
  ino_t inode_ = 0;
  const ModuleTables* tables_ = nullptr;  // segments for read(); not owned
};

// Describes the module whose image starts at `image` (its ELF header,
// mapped) from its file at `path`. `index_memory` must hold
// index_entries(fde_count) int32s; `index_capacity` says how many it holds
// (a module that needs more is refused). The search table is read through
// `read_buffer`, whose size must be a non-zero multiple of kIndexStride
// (else every module is refused); its contents afterwards are unspecified.
// Empty when the file is not the mapped image, it has no GNU build ID, or
// its tables are in a form find_fde does not read.
std::optional<ModuleTables> describe_module(const char* path, const void* image,
                                           std::int32_t* index_memory,
                                           std::uint32_t index_capacity,
                                           std::span<SearchEntry> read_buffer) noexcept;

// Whether the module loaded with load bias `bias` has `tables`' build ID
// where it had it. Reads the image's first segment (mapped and resident).
bool same_build_id(const ModuleTables& tables, std::uintptr_t bias) noexcept;

// The last stretch of kIndexStride search-table entries find_fde read, kept
// by one walk: the frames of a stack often fall in one stretch one after the
// other (a third of cc1plus's stretch reads repeated the one before).
struct StrideMemo {
  std::uint32_t stride = UINT32_MAX;  // which stretch `entries` holds; UINT32_MAX: none
  SearchEntry entries[kIndexStride];  // as many of them as that stretch has
};

// The link-time address of the FDE whose range may cover link-time address
// `pc` (the last one starting at or below it), or nothing. describe_frame
// checks the range. `memo`, when given, must only ever have seen this
// module's tables.
std::optional<std::uint64_t> find_fde(const ModuleTables& tables, const TableSource& source,
                                      std::uint64_t pc, StrideMemo* memo = nullptr) noexcept;

}  // namespace syncscope::prof::internal
