// Modules and symbols of a core file through libdwfl (see core_symbols.h).
#include "retain/core_symbols.h"

#include <cxxabi.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <sys/stat.h>

#include "absl/status/status.h"

namespace syncscope::retain::internal {
namespace {

// What the find_elf callback needs; set only while CoreSymbols::open runs
// (libdwfl gives the callback no user pointer of its own).
struct FindContext {
  std::string exe;
  std::string sysroot;
  std::uintptr_t phdr = 0;  // AT_PHDR: inside the main executable
  const std::vector<CoreMappedFile>* files = nullptr;  // NT_FILE: the paths behind modules
  std::vector<CoreModule>* modules = nullptr;
  // find_elf's verdicts (libdwfl calls it only for modules whose NT_FILE
  // path it could not open itself, or whose build id did not match there).
  std::map<Dwfl_Module*, CoreModule> verdicts;
};
thread_local FindContext* t_find = nullptr;

std::string hex(const unsigned char* p, std::size_t n) {
  std::string out;
  char b[3];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(b, sizeof b, "%02x", p[i]);
    out += b;
  }
  return out;
}

std::string demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(abi::__cxa_demangle(name, nullptr, nullptr, &status), &std::free);
  return status == 0 && out != nullptr ? std::string(out.get()) : std::string(name);
}

// The module as the core describes it: its NT_FILE path (libdwfl names a
// library by its soname), range, and whether it is the program.
CoreModule describe(const FindContext& ctx, Dwfl_Module* mod, const char* modname) {
  Dwarf_Addr start = 0, end = 0;
  dwfl_module_info(mod, nullptr, &start, &end, nullptr, nullptr, nullptr, nullptr);
  CoreModule m;
  m.name = modname != nullptr ? modname : "";
  for (const CoreMappedFile& f : *ctx.files) {
    if (f.start <= start && start < f.end) {
      m.name = f.path;
      break;
    }
  }
  m.start = start;
  m.end = end;
  m.main_executable = ctx.phdr >= start && ctx.phdr < end;
  return m;
}

// Opens the file for module `mod` (--exe, or --sysroot + its path) and
// checks its build id against the one the core holds; records the verdict.
int find_elf(Dwfl_Module* mod, void**, const char* modname, Dwarf_Addr, char** file_name, Elf** elfp) {
  FindContext& ctx = *t_find;
  CoreModule m = describe(ctx, mod, modname);
  std::string path = m.main_executable && !ctx.exe.empty() ? ctx.exe : ctx.sysroot + m.name;
  const int fd = m.name.empty() || m.name[0] == '[' ? -1 : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    m.problem = "file missing (" + path + ")";
    ctx.verdicts[mod] = std::move(m);
    return -1;
  }
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  const void* file_id = nullptr;
  const ssize_t file_len = elf != nullptr ? dwelf_elf_gnu_build_id(elf, &file_id) : -1;
  const unsigned char* core_id = nullptr;
  GElf_Addr id_vaddr = 0;
  const int core_len = dwfl_module_build_id(mod, &core_id, &id_vaddr);
  if (elf == nullptr) {
    m.problem = "not an ELF file (" + path + ")";
  } else if (core_len > 0 && (file_len != core_len || std::memcmp(file_id, core_id, core_len) != 0)) {
    m.problem = "build id differs (core " + hex(core_id, static_cast<std::size_t>(core_len)) + ", " + path + " " +
                (file_len > 0 ? hex(static_cast<const unsigned char*>(file_id), static_cast<std::size_t>(file_len))
                              : std::string("none")) +
                ")";
  }
  if (!m.problem.empty()) {
    if (elf != nullptr) elf_end(elf);
    ::close(fd);
    ctx.verdicts[mod] = std::move(m);
    return -1;
  }
  m.file = path;
  m.symbols_used = true;
  ctx.verdicts[mod] = std::move(m);
  *file_name = ::strdup(path.c_str());
  *elfp = elf;
  return fd;
}

// The build id of the ELF file at `path` as hex ("" when none or unreadable).
std::string file_build_id(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  const void* id = nullptr;
  const ssize_t len = elf != nullptr ? dwelf_elf_gnu_build_id(elf, &id) : -1;
  std::string out = len > 0 ? hex(static_cast<const unsigned char*>(id), static_cast<std::size_t>(len)) : "";
  if (elf != nullptr) elf_end(elf);
  ::close(fd);
  return out;
}

// Resolves every module's file now (libdwfl would do it lazily) and lists it.
int list_module(Dwfl_Module* mod, void**, const char* modname, Dwarf_Addr, void*) {
  FindContext& ctx = *t_find;
  GElf_Addr bias = 0;
  const bool have_elf = dwfl_module_getelf(mod, &bias) != nullptr;
  if (auto it = ctx.verdicts.find(mod); it != ctx.verdicts.end()) {
    ctx.modules->push_back(std::move(it->second));
    return DWARF_CB_OK;
  }
  CoreModule m = describe(ctx, mod, modname);
  const char* mainfile = nullptr;
  dwfl_module_info(mod, nullptr, nullptr, nullptr, nullptr, nullptr, &mainfile, nullptr);
  if (have_elf) {
    m.file = mainfile != nullptr ? mainfile : m.name;
    m.symbols_used = true;
    // libdwfl opened the file the core names (its build id matched): an
    // --exe of another build is reported, not used.
    const unsigned char* core_id = nullptr;
    GElf_Addr id_vaddr = 0;
    const int core_len = dwfl_module_build_id(mod, &core_id, &id_vaddr);
    if (m.main_executable && !ctx.exe.empty() && ctx.exe != m.file && core_len > 0) {
      const std::string want = hex(core_id, static_cast<std::size_t>(core_len));
      const std::string got = file_build_id(ctx.exe);
      if (got != want)
        m.problem = "build id differs (core " + want + ", " + ctx.exe + " " + (got.empty() ? "none" : got) + ")";
    }
  } else if (m.name.empty() || m.name[0] == '[') {
    m.problem = "no file (" + (m.name.empty() ? std::string("anonymous") : m.name) + ")";
  } else {
    struct stat st {};
    m.problem = ::stat((ctx.sysroot + m.name).c_str(), &st) == 0 ? "build id differs from the core's"
                                                                   : "file missing (" + ctx.sysroot + m.name + ")";
  }
  ctx.modules->push_back(std::move(m));
  return DWARF_CB_OK;
}

char* g_debuginfo_path = nullptr;  // libdwfl's default search (build-id links)
const Dwfl_Callbacks kCallbacks = {find_elf, dwfl_standard_find_debuginfo, dwfl_offline_section_address,
                                   &g_debuginfo_path};

}  // namespace

absl::StatusOr<std::unique_ptr<CoreSymbols>> CoreSymbols::open(const CoreFile& core, const std::string& exe,
                                                               const std::string& sysroot) {
  if (!exe.empty()) {
    struct stat st {};
    if (::stat(exe.c_str(), &st) != 0) return absl::NotFoundError("executable " + exe + " does not exist");
  }
  std::unique_ptr<CoreSymbols> s(new CoreSymbols());
  elf_version(EV_CURRENT);
  // libelf maps the core itself (elf_memory over our mapping does not give
  // libdwfl the segments it needs); the pages are shared with ours.
  s->core_fd_ = ::open(core.path().c_str(), O_RDONLY | O_CLOEXEC);
  s->core_elf_ = s->core_fd_ >= 0 ? elf_begin(s->core_fd_, ELF_C_READ_MMAP, nullptr) : nullptr;
  s->dwfl_ = dwfl_begin(&kCallbacks);
  if (s->core_elf_ == nullptr || s->dwfl_ == nullptr)
    return absl::InvalidArgumentError("libdwfl cannot read " + core.path() + ": " + dwfl_errmsg(-1));
  FindContext ctx{exe, sysroot, core.auxv(3 /* AT_PHDR */), &core.mapped_files(), &s->modules_, {}};
  t_find = &ctx;
  const int reported = dwfl_core_file_report(s->dwfl_, s->core_elf_, exe.empty() ? nullptr : exe.c_str());
  if (reported >= 0 && dwfl_report_end(s->dwfl_, nullptr, nullptr) == 0) {
    dwfl_getmodules(s->dwfl_, list_module, nullptr, 0);
    s->attached_ = dwfl_core_file_attach(s->dwfl_, s->core_elf_) >= 0;
  }
  t_find = nullptr;
  if (reported < 0)
    return absl::InvalidArgumentError("cannot list the modules of " + core.path() + ": " + dwfl_errmsg(-1));
  std::sort(s->modules_.begin(), s->modules_.end(),
            [](const CoreModule& a, const CoreModule& b) { return a.start < b.start; });
  return s;
}

CoreSymbols::~CoreSymbols() {
  if (dwfl_ != nullptr) dwfl_end(dwfl_);
  if (core_elf_ != nullptr) elf_end(core_elf_);
  if (core_fd_ >= 0) ::close(core_fd_);
}

std::string CoreModule::warning() const {
  if (problem.empty()) return "";
  const std::string base = name.substr(name.find_last_of('/') + 1);
  return "warning: " + base + ": " + problem +
         (symbols_used ? "; symbols from " + file + ", which the core names and whose build id matches"
                       : "; its symbols are not used");
}

const CoreModule* CoreSymbols::module_of(std::uintptr_t addr) const noexcept {
  auto it = std::upper_bound(modules_.begin(), modules_.end(), addr,
                             [](std::uintptr_t a, const CoreModule& m) { return a < m.start; });
  if (it == modules_.begin()) return nullptr;
  --it;
  return addr < it->end ? &*it : nullptr;
}

namespace {

// The symbol whose [value, value + size) holds addr; nullptr when none.
const char* covering_symbol(Dwfl* dwfl, std::uintptr_t addr, GElf_Off& offset) {
  Dwfl_Module* mod = dwfl_addrmodule(dwfl, addr);
  if (mod == nullptr) return nullptr;
  GElf_Sym sym;
  const char* name = dwfl_module_addrinfo(mod, addr, &offset, &sym, nullptr, nullptr, nullptr);
  if (name == nullptr || sym.st_size == 0 || offset >= sym.st_size) return nullptr;
  return name;
}

}  // namespace

std::string CoreSymbols::data_symbol(std::uintptr_t addr) const {
  GElf_Off offset = 0;
  const char* name = covering_symbol(dwfl_, addr, offset);
  if (name == nullptr) return "";
  std::string out = demangle(name);
  if (offset != 0) {
    char b[32];
    std::snprintf(b, sizeof b, "+0x%" PRIx64, static_cast<std::uint64_t>(offset));
    out += b;
  }
  return out;
}

// A vtable pointer points 16 bytes (offset-to-top, typeinfo) or more into
// a `_ZTV<type>` symbol; the symbol's name is the type, whatever of the
// module's read-only data the core left out.
std::string CoreSymbols::type_from_vtable(std::uintptr_t vptr) const {
  GElf_Off offset = 0;
  const char* name = covering_symbol(dwfl_, vptr, offset);
  if (name == nullptr || std::strncmp(name, "_ZTV", 4) != 0 || offset < 16 || vptr % 8 != 0) return "";
  // "_ZTV" + <type>: the rest is the type's own mangling.
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(abi::__cxa_demangle(name + 4, nullptr, nullptr, &status),
                                                   &std::free);
  if (status == 0 && out != nullptr) return out.get();
  const std::string full = demangle(name);  // "vtable for X"
  constexpr std::string_view kPrefix = "vtable for ";
  return full.compare(0, kPrefix.size(), kPrefix) == 0 ? full.substr(kPrefix.size()) : "";
}

namespace {

struct Unwind {
  std::vector<CoreFrame>* out;
  std::size_t max;
};

int collect_frame(Dwfl_Frame* state, void* arg) {
  auto* u = static_cast<Unwind*>(arg);
  CoreFrame f;
  Dwarf_Addr pc = 0;
  if (!dwfl_frame_pc(state, &pc, &f.activation)) return DWARF_CB_ABORT;
  Dwarf_Word sp = 0;
  constexpr unsigned kDwarfRsp = 7;  // x86-64 DWARF register number of rsp
  if (dwfl_frame_reg(state, kDwarfRsp, &sp) != 0) return DWARF_CB_ABORT;
  f.pc = pc;
  f.sp = sp;
  u->out->push_back(f);
  return u->out->size() < u->max ? DWARF_CB_OK : DWARF_CB_ABORT;
}

}  // namespace

std::vector<CoreFrame> CoreSymbols::frames(pid_t tid, std::size_t max) const {
  std::vector<CoreFrame> out;
  if (!attached_) return out;
  Unwind u{&out, max};
  dwfl_getthread_frames(dwfl_, tid, collect_frame, &u);  // stops at the first frame it cannot unwind
  return out;
}

std::string CoreSymbols::frame_function(const std::vector<CoreFrame>& frames, std::uintptr_t addr) const {
  if (frames.empty() || addr < frames.front().sp) return frames.empty() ? "" : function_at(frames.front().pc);
  std::size_t i = 0;
  while (i + 1 < frames.size() && frames[i + 1].sp <= addr) ++i;
  if (i + 1 == frames.size() && i > 0 && addr - frames[i].sp > (std::uintptr_t{64} << 10)) return "";
  return function_at(frames[i].activation ? frames[i].pc : frames[i].pc - 1);
}

std::vector<prof::SymbolFrame> CoreSymbols::symbolize(std::uintptr_t pc) const {
  prof::SymbolFrame f;
  f.function = function_at(pc);
  if (f.function.empty()) f.function = "??";
  if (Dwfl_Module* mod = dwfl_addrmodule(dwfl_, pc); mod != nullptr) {
    if (Dwfl_Line* line = dwfl_module_getsrc(mod, pc); line != nullptr) {
      int lineno = 0;
      const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr);
      if (file != nullptr) f.file = file;
      f.line = lineno;
    }
  }
  return {f};
}

namespace {

struct SymbolSearch {
  const std::string* name;
  std::uintptr_t address = 0;
};

int find_symbol(Dwfl_Module* mod, void**, const char*, Dwarf_Addr, void* arg) {
  auto* search = static_cast<SymbolSearch*>(arg);
  const int n = dwfl_module_getsymtab(mod);
  for (int i = 1; i < n; ++i) {
    GElf_Sym sym;
    GElf_Addr addr = 0;
    const char* name = dwfl_module_getsym_info(mod, i, &sym, &addr, nullptr, nullptr, nullptr);
    if (name != nullptr && sym.st_shndx != SHN_UNDEF && *search->name == name) {
      search->address = addr;
      return DWARF_CB_ABORT;
    }
  }
  return DWARF_CB_OK;
}

}  // namespace

std::uintptr_t CoreSymbols::symbol_address(const std::string& mangled) const {
  SymbolSearch search{&mangled};
  dwfl_getmodules(dwfl_, find_symbol, &search, 0);
  return search.address;
}

std::string CoreSymbols::function_at(std::uintptr_t pc) const {
  Dwfl_Module* mod = dwfl_addrmodule(dwfl_, pc);
  if (mod == nullptr) return "";
  const char* name = dwfl_module_addrname(mod, pc);
  return name != nullptr ? demangle(name) : "";
}

}  // namespace syncscope::retain::internal
