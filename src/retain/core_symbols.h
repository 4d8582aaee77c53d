// The modules of a core file and their symbols, through libdwfl: which
// files were loaded where (dwfl_core_file_report reads the core's link map
// and NT_FILE note), each file found on disk (`--exe` for the program,
// `--sysroot` prefixed to every other path) and checked against the build
// id that the core's memory holds for it. A module whose file is missing or
// differs keeps its address range but contributes no symbols, and says so
// in `problem`.
//
// Implementation notes: libdwfl was chosen over reading the ELF files by
// hand because it already pairs a core's modules with their files (link
// map, NT_FILE, build-id notes in memory) and answers address -> symbol for
// .symtab and .dynsymtab alike. Its elfutils release (0.188) has no sysroot
// setting, so the find_elf callback applies the sysroot itself.
//
// Thread safety: not thread-safe (libdwfl's caches); one per core.
#pragma once

#include <elfutils/libdwfl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "retain/core_file.h"
#include "retain/symbol_source.h"

namespace syncscope::retain::internal {

struct CoreModule {
  std::string name;          // the path the process had loaded
  std::string file;          // the file whose symbols are used ("" none)
  std::uintptr_t start = 0;  // address range of the module in the core
  std::uintptr_t end = 0;
  bool main_executable = false;
  // "" when all is well; else one line: "file missing (PATH)", "build id
  // differs (core 1a2b.., PATH 3c4d..)".
  std::string problem;
  // The symbols of `file` are used. Can be true with a problem: --exe names
  // a different build, and the file the core names has the right one.
  bool symbols_used = false;
  // "warning: NAME: PROBLEM; ..." or "" (one line, no newline).
  std::string warning() const;
};

// One frame of a thread, unwound from the core (innermost first).
struct CoreFrame {
  std::uintptr_t pc = 0;  // for a caller frame: the return address
  std::uintptr_t sp = 0;  // the frame's stack pointer (its CFA side: its slots lie at and above it)
  bool activation = false;  // pc is exact (innermost or signal frame), not a return address
};

class CoreSymbols final : public SymbolSource {
 public:
  // Errors: the core's modules cannot be read at all (InvalidArgument), or
  // `exe` was given and does not exist (NotFound).
  static absl::StatusOr<std::unique_ptr<CoreSymbols>> open(const CoreFile& core, const std::string& exe,
                                                           const std::string& sysroot);
  ~CoreSymbols() override;

  const std::vector<CoreModule>& modules() const noexcept { return modules_; }
  // The module whose range holds addr, or nullptr.
  const CoreModule* module_of(std::uintptr_t addr) const noexcept;
  // The data symbol covering addr: "g_bus", "g_table+0x10"; "" when none.
  std::string data_symbol(std::uintptr_t addr) const;

  // The frames of thread `tid` (at most `max`), unwound with the modules'
  // CFI; empty when the thread is unknown or nothing could be unwound.
  std::vector<CoreFrame> frames(pid_t tid, std::size_t max = 64) const;
  // The function of the frame whose slots hold stack address `addr` (frame
  // i owns [sp[i], sp[i+1])), "" when unknown.
  std::string frame_function(const std::vector<CoreFrame>& frames, std::uintptr_t addr) const;

  std::string type_from_vtable(std::uintptr_t vptr) const override;
  std::string function_at(std::uintptr_t pc) const override;
  std::vector<prof::SymbolFrame> symbolize(std::uintptr_t pc) const override;
  // The run-time address of the symbol named `mangled` (.symtab or
  // .dynsym of any module with symbols); 0 when none has it.
  std::uintptr_t symbol_address(const std::string& mangled) const;

 private:
  CoreSymbols() = default;
  Dwfl* dwfl_ = nullptr;      // owned; modules reported from the core
  int core_fd_ = -1;          // owned; the core, for libelf
  Elf* core_elf_ = nullptr;   // owned; libelf's view of the core
  std::vector<CoreModule> modules_;  // sorted by start
  bool attached_ = false;            // dwfl_core_file_attach succeeded: threads can be unwound
};

}  // namespace syncscope::retain::internal
