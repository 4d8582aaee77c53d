// In-process symbolization: program counter -> function, file:line, with
// inlined frames expanded, and the list of loaded modules with build ids.
// Used by the pprof writers so that a profile is readable on a machine that
// does not have the binary.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace syncscope::prof {

// One source-level frame. A single program counter can expand to several
// frames when calls were inlined: the innermost (inlined) frame comes first.
struct SymbolFrame {
  std::string function;  // demangled; "??" when unknown
  std::string file;      // absolute or compilation-relative path; "" when unknown
  int line = 0;          // 0 when unknown
  bool inlined = false;  // true for every frame but the last of one pc
};

// The one rule for naming an allocation site, shared by heap profiles and
// retention reports so a block has the same name in every report: true for
// frames that are allocator or standard-library plumbing rather than the
// code that decided to allocate (operator new, malloc, std::allocator,
// make_shared internals, vector growth, syncscope's own hooks...), judged by
// the function name and, for inlined library code whose DWARF name is
// unqualified ("allocate"), by its source file being a C++ library header.
bool is_allocator_plumbing(std::string_view function, std::string_view file = {}) noexcept;
// The same for a symbolized frame: its file counts only when it is an
// inlined frame; unknown functions ("??") are plumbing.
bool is_allocator_plumbing(const SymbolFrame& frame) noexcept;

// A loaded ELF object (the executable, shared libraries, vdso).
struct LoadedModule {
  std::uintptr_t start = 0;        // first mapped address of the executable segment
  std::uintptr_t limit = 0;        // one past its last address
  std::uint64_t file_offset = 0;   // file offset of `start`
  std::uintptr_t load_bias = 0;    // runtime address - the file's ELF virtual address
  std::string path;                // as the dynamic loader reports it
  std::string build_id;            // lowercase hex of NT_GNU_BUILD_ID, "" when absent
};

// Thread-safe, caching symbolizer. Not async-signal-safe (it allocates and
// reads files): call it from a normal thread, never from a hook or handler.
class Symbolizer {
 public:
  // The process-wide instance (modules are re-read when an unknown pc shows up,
  // so libraries dlopen'ed later are found).
  static Symbolizer& instance();

  // Whether symbolization may read separate debug files (found by build id
  // or .gnu_debuglink under /usr/lib/debug, e.g. libc6-dbg). On (default):
  // inline frames and lines for system libraries, at the price of reading and
  // inflating their compressed DWARF (about 150 ms and 20 MiB for libc, paid
  // by the first profile a process writes). Off: those libraries are named
  // from their own .symtab/.dynsym; objects carrying their DWARF in the file
  // itself keep lines. Takes effect for symbolizers created after the call:
  // set it before the first profile is built.
  static void set_separate_debuginfo(bool on) noexcept;

  // Frames for one return address. `pc` is used as is; callers pass
  // return addresses minus one when they want the call site's line.
  std::vector<SymbolFrame> symbolize(std::uintptr_t pc);

  // Every loaded module, refreshed on each call.
  std::vector<LoadedModule> modules();

  virtual ~Symbolizer() = default;

 protected:
  Symbolizer() = default;
};

}  // namespace syncscope::prof
