// ElfSymbols: names of the functions containing given addresses, from one
// ELF file's symbol table (.symtab, or .dynsym when the file is stripped),
// for naming the pcs of an address-only profile without libdw (issue 16,
// item 2). Names stay mangled: pprof demangles C++ names itself.
//
// Implementation notes
//   The file is read with pread, never mapped: the ELF header, the section
//   headers, then the symbol table in 24 KiB chunks through one reused
//   buffer, and last the names found, one read each. Reads copy from the
//   page cache, so the file's pages never join the process's resident set
//   (mapping a 35 MB compiler to walk its 2 MiB of .dynsym and .dynstr left
//   about 3 MiB resident through fault-around; issue 16, items 1 and 4).
//   Sections are walked as the ELF specification lays them out (ELF64,
//   native byte order: the objects of this process). Symbols of type
//   STT_FUNC or STT_GNU_IFUNC with a defined section and a non-zero value
//   count. The lookup is one pass over the symbol table against the
//   addresses sorted (a binary search per symbol): the table is neither kept
//   nor sorted, so a dump that names a few hundred pcs in a library of
//   thousands of functions pays a read of its table and nothing in
//   proportion to its size beyond that (issue 16, item 1: the exit dump of
//   a short process).

// When not to use: lines and inline frames need DWARF (the Symbolizer).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace syncscope::prof::internal {

// The name of the function containing each ELF virtual address of `vaddrs`
// (not runtime addresses: subtract the module's load bias), "" where none,
// in the order of `vaddrs`. The function containing an address is the
// symbol with the greatest value at or below it: a sized one when its range
// holds the address, else one of size 0 (it reaches the next symbol). An
// unreadable or non-ELF64 file names nothing. Throws std::bad_alloc when out
// of memory.
std::vector<std::string> elf_function_names(const std::string& path,
                                            std::span<const std::uint64_t> vaddrs);

}  // namespace syncscope::prof::internal
