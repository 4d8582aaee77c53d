// ElfSymbols: the function symbols of one ELF file (.symtab, or .dynsym when
// the file is stripped), sorted by address, for naming the pcs of an
// address-only profile without libdw (issue 16, item 2). Names stay mangled:
// pprof demangles C++ names itself.
//
// Implementation notes
//   The file is mapped read-only and its section headers are walked as the
//   ELF specification lays them out (ELF64, native byte order: the objects
//   of this process). Symbols of type STT_FUNC or STT_GNU_IFUNC with a
//   defined section and a non-zero value are kept as (value, size, name
//   offset); names are copied out when looked up, so the mapping can go
//   when the object is destroyed.
//
// When not to use: lines and inline frames need DWARF (the Symbolizer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace syncscope::prof::internal {

class ElfSymbols {
 public:
  // Reads `path`; an unreadable or non-ELF64 file gives an empty table.
  // Throws std::bad_alloc when out of memory.
  explicit ElfSymbols(const std::string& path);
  ~ElfSymbols();
  ElfSymbols(const ElfSymbols&) = delete;
  ElfSymbols& operator=(const ElfSymbols&) = delete;

  // The name of the function containing ELF virtual address `vaddr` (not a
  // runtime address: subtract the module's load bias), or "" when none. A
  // symbol of size 0 contains only addresses before the next symbol.
  std::string name_at(std::uint64_t vaddr) const;
  std::size_t size() const { return symbols_.size(); }

 private:
  struct Symbol {
    std::uint64_t value;
    std::uint64_t size;
    std::uint32_t name;  // offset into strtab_
  };
  void* map_ = nullptr;           // the whole file, PROT_READ; nullptr when unreadable
  std::size_t map_size_ = 0;
  const char* strtab_ = nullptr;  // inside map_
  std::size_t strtab_size_ = 0;
  std::vector<Symbol> symbols_;   // sorted by value
};

}  // namespace syncscope::prof::internal
