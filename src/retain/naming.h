// Names for reports: allocation sites (symbolized, allocator plumbing
// skipped) and words inside roots (thread + frame function, global symbol).
// Called after the world resumed; these allocate and symbolize.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "syncscope/retain/retention.h"

namespace syncscope::retain::internal {

class SymbolSource;  // symbol_source.h

// Site description from return addresses (innermost first), symbolized by
// `symbols` (this process when omitted).
SiteDescription describe_pcs(const std::vector<std::uintptr_t>& pcs);
SiteDescription describe_pcs(const std::vector<std::uintptr_t>& pcs, const SymbolSource& symbols);
// Site description of a live-block-table site id.
SiteDescription describe_live_site(std::uint32_t site);

// What the scan knew about one thread, kept for naming its roots.
struct ThreadInfo {
  pid_t tid = 0;
  std::string name;                     // /proc/self/task/<tid>/comm
  std::vector<std::uintptr_t> frame_pc;  // innermost first
  std::vector<std::uintptr_t> frame_sp;
};

// "fn" of the frame that owns stack address `addr`, or "" when unknown.
std::string frame_function(const ThreadInfo& thread, std::uintptr_t addr);
// "symbol" or "symbol+0x10" for a global address in the module loaded at
// `base` (path "" = the main executable): .symtab first, then the dynamic
// symbols; "" when no symbol covers it.
std::string global_symbol(std::uintptr_t addr, const std::string& module, std::uintptr_t base);
// "libfoo.so" of "/usr/lib/libfoo.so".
std::string basename_of(const std::string& path);

// The data symbol (STT_OBJECT/STT_TLS) covering `offset` (address minus load
// bias) in the ELF file's .symtab, demangled, with "+0x.." when not at its
// start; "" when none. Symbol tables are read once per file and cached.
std::string data_symbol(const std::string& elf_path, std::uintptr_t offset);
// Short display form of a symbolized function (argument list dropped).
std::string short_function(std::string_view function);

}  // namespace syncscope::retain::internal
