// Symbolizer on elfutils: libdwfl finds the modules of this process (from
// /proc/self/maps) and their DWARF, libdw walks the scopes at a pc to expand
// inlined calls, abi::__cxa_demangle turns linkage names into C++ names.
// Module lists for pprof mappings come from dl_iterate_phdr, which also gives
// the build ids (NT_GNU_BUILD_ID notes) without opening any file.
#include <array>
#include <string_view>
#include "syncscope/prof/symbolizer.h"

#include <cxxabi.h>
#include <dwarf.h>
#include <elf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <unordered_map>

#include "common/annotated_mutex.h"
#include "prof/loaded_modules.h"
#include "prof/thread_state.h"

namespace syncscope::prof {
namespace {

// relaxed: a setting read once when the symbolizer's Dwfl is created.
constinit std::atomic<bool> g_separate_debuginfo{true};

// find_debuginfo callback that finds none: only the object's own sections.
int no_separate_debuginfo(Dwfl_Module*, void**, const char*, Dwarf_Addr, const char*, const char*,
                          GElf_Word, char**) {
  return -1;
}

std::string demangle(const char* name) {
  if (name == nullptr) return "??";
  int status = 0;
  char* out = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || out == nullptr) return name;
  std::string result(out);
  std::free(out);
  return result;
}

// The C++ name of a subprogram or inlined-subroutine DIE, following
// DW_AT_abstract_origin / DW_AT_specification to where the name lives.
std::string die_name(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  for (int at : {DW_AT_linkage_name, DW_AT_MIPS_linkage_name}) {
    if (dwarf_attr_integrate(die, at, &attr) != nullptr) {
      if (const char* s = dwarf_formstring(&attr)) return demangle(s);
    }
  }
  if (dwarf_attr_integrate(die, DW_AT_name, &attr) != nullptr) {
    if (const char* s = dwarf_formstring(&attr)) return s;
  }
  return "??";
}

// The caller-side position (DW_AT_call_file/line) of an inlined call.
void call_site(Dwarf_Die* inlined, Dwarf_Die* cu, std::string* file, int* line) {
  Dwarf_Attribute attr;
  Dwarf_Word value = 0;
  *line = 0;
  if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_line, &attr), &value) == 0) {
    *line = static_cast<int>(value);
  }
  file->clear();
  if (dwarf_formudata(dwarf_attr(inlined, DW_AT_call_file, &attr), &value) != 0) return;
  Dwarf_Files* files = nullptr;
  size_t count = 0;
  if (dwarf_getsrcfiles(cu, &files, &count) != 0 || value >= count) return;
  if (const char* f = dwarf_filesrc(files, value, nullptr, nullptr)) *file = f;
}

class DwflSymbolizer final : public Symbolizer {
 public:
  DwflSymbolizer() = default;
  ~DwflSymbolizer() override {
    if (dwfl_ != nullptr) dwfl_end(dwfl_);
  }

  std::vector<SymbolFrame> symbolize_impl(std::uintptr_t pc) {
    // libdw's DWARF caches and our own cache are the profiler's memory, not
    // the program's: keep them out of the heap profile and the live-block
    // table (they would show up as a growing "libdw" site in every report).
    internal::HookGuard guard;
    common::MutexLock lock(mu_);
    auto it = cache_.find(pc);
    if (it != cache_.end()) return it->second;
    // Out of memory while resolving: elfutils reports it as "not found" (or,
    // inside libdw, through our OOM handler as std::bad_alloc), so a result
    // computed while an allocation of this thread failed is not cached.
    const std::uint64_t failures_before = internal::tls_state.failed_allocations;
    std::vector<SymbolFrame> frames;
    try {
      Dwfl_Module* mod = find_module_locked(pc);
      if (mod != nullptr) frames = resolve_locked(mod, pc, symbol_of_locked(mod, pc));
    } catch (...) {
      abandon_dwfl_locked();
      throw;
    }
    if (frames.empty()) frames.push_back(SymbolFrame{"??", "", 0, false});
    if (internal::tls_state.failed_allocations == failures_before) cache_.emplace(pc, frames);
    return frames;
  }

 private:
  void report_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    static const Dwfl_Callbacks kCallbacks = {
        .find_elf = dwfl_linux_proc_find_elf,
        .find_debuginfo = dwfl_standard_find_debuginfo,
        .section_address = nullptr,
        .debuginfo_path = nullptr,
    };
    static const Dwfl_Callbacks kOwnSectionsOnly = {
        .find_elf = dwfl_linux_proc_find_elf,
        .find_debuginfo = no_separate_debuginfo,
        .section_address = nullptr,
        .debuginfo_path = nullptr,
    };
    if (dwfl_ == nullptr) {
      // relaxed: see g_separate_debuginfo.
      dwfl_ = dwfl_begin(g_separate_debuginfo.load(std::memory_order_relaxed) ? &kCallbacks
                                                                               : &kOwnSectionsOnly);
    }
    if (dwfl_ == nullptr) return;
    symbols_.clear();  // modules may go (dlclose) and their addresses be reused
    dwfl_report_begin(dwfl_);
    dwfl_linux_proc_report(dwfl_, getpid());
    dwfl_report_end(dwfl_, nullptr, nullptr);
  }

  // The module holding pc; re-reads the maps once for objects loaded since.
  Dwfl_Module* find_module_locked(std::uintptr_t pc) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (dwfl_ == nullptr) report_locked();
    if (dwfl_ == nullptr) return nullptr;
    Dwfl_Module* mod = dwfl_addrmodule(dwfl_, pc);
    if (mod == nullptr) {
      report_locked();
      mod = dwfl_addrmodule(dwfl_, pc);
    }
    return mod;
  }

  // libdw's default reaction to a failed allocation is to print a message
  // and exit the process; ours unwinds to symbolize_impl instead (libdw has
  // unwind tables; the failed allocation left its obstack unchanged, and the
  // whole Dwfl is then abandoned, never touched again).
  // GNU noreturn, not [[noreturn]]: with it the function's type is libdw's
  // Dwarf_OOM (a pointer to a noreturn function), which clang checks.
  __attribute__((noreturn)) static void libdw_out_of_memory() { throw std::bad_alloc(); }

  // A Dwfl whose libdw state an exception may have cut short: leaked on
  // purpose (dwfl_end could trip over half-built data or a held lock); the
  // next lookup reports the modules afresh. Happens only when out of memory.
  void abandon_dwfl_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    dwfl_ = nullptr;
    symbols_.clear();
  }

  // One function or object symbol of a module, by address (names point into
  // libelf's copy of the string table, valid while dwfl_ lives).
  struct Symbol {
    GElf_Addr start;
    GElf_Xword size;
    const char* name;
  };

  // The name of the symbol covering pc (the nearest one below it when only
  // sizeless symbols precede it), from the module's .symtab or .dynsym,
  // sorted once per module. dwfl_module_addrname scans the whole table on
  // every call: a profile of a large stripped program (cc1plus) spent most of
  // its exit dump there (issue 16, item 2).
  const char* symbol_of_locked(Dwfl_Module* mod, std::uintptr_t pc) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto [it, fresh] = symbols_.try_emplace(mod);
    std::vector<Symbol>& table = it->second;
    if (fresh) {
      const int n = dwfl_module_getsymtab(mod);
      for (int i = 1; i < n; ++i) {
        GElf_Sym sym;
        GElf_Addr addr = 0;
        const char* name = dwfl_module_getsym_info(mod, i, &sym, &addr, nullptr, nullptr, nullptr);
        const int type = GELF_ST_TYPE(sym.st_info);
        if (name == nullptr || *name == '\0' || addr == 0 || sym.st_shndx == SHN_UNDEF ||
            (type != STT_FUNC && type != STT_GNU_IFUNC && type != STT_OBJECT && type != STT_NOTYPE)) {
          continue;
        }
        table.push_back(Symbol{addr, sym.st_size, name});
      }
      std::sort(table.begin(), table.end(), [](const Symbol& a, const Symbol& b) {
        return a.start != b.start ? a.start < b.start : a.size > b.size;
      });
    }
    auto above = std::upper_bound(table.begin(), table.end(), pc,
                                  [](std::uintptr_t v, const Symbol& s) { return v < s.start; });
    if (above == table.begin()) return nullptr;
    // Sized symbols may nest or overlap: look back for one that covers pc.
    constexpr int kLookBack = 16;
    auto s = above;
    for (int i = 0; i < kLookBack && s != table.begin(); ++i) {
      --s;
      if (s->size != 0 && pc < s->start + s->size) return s->name;
    }
    const Symbol& nearest = *(above - 1);
    return nearest.size == 0 ? nearest.name : nullptr;
  }

  static std::vector<SymbolFrame> resolve_locked(Dwfl_Module* mod, std::uintptr_t pc,
                                                 const char* symbol) {
    Dwarf_Addr dwarf_bias = 0;
    if (Dwarf* dwarf = dwfl_module_getdwarf(mod, &dwarf_bias)) {
      dwarf_new_oom_handler(dwarf, libdw_out_of_memory);
    }
    std::vector<SymbolFrame> frames;
    std::string file;
    int line = 0;
    if (Dwfl_Line* l = dwfl_module_getsrc(mod, pc)) {
      if (const char* f = dwfl_lineinfo(l, nullptr, &line, nullptr, nullptr, nullptr)) file = f;
    }
    Dwarf_Addr bias = 0;
    Dwarf_Die* cu = dwfl_module_addrdie(mod, pc, &bias);
    Dwarf_Die* scopes = nullptr;
    int n = cu != nullptr ? dwarf_getscopes(cu, pc - bias, &scopes) : 0;
    for (int i = 0; i < n; ++i) {
      const int tag = dwarf_tag(&scopes[i]);
      if (tag == DW_TAG_inlined_subroutine) {
        frames.push_back(SymbolFrame{die_name(&scopes[i]), file, line, true});
        call_site(&scopes[i], cu, &file, &line);
      } else if (tag == DW_TAG_subprogram) {
        std::string name = symbol != nullptr ? demangle(symbol) : die_name(&scopes[i]);
        frames.push_back(SymbolFrame{std::move(name), file, line, false});
        break;
      }
    }
    std::free(scopes);
    if (frames.empty() || frames.back().inlined) {
      frames.push_back(SymbolFrame{symbol != nullptr ? demangle(symbol) : unnamed(mod, pc), file,
                                   line, false});
    }
    return frames;
  }

  // "module+0xoffset" for a pc without any symbol (stripped binaries), so the
  // site still has a stable name that `addr2line -e module` can resolve later.
  static std::string unnamed(Dwfl_Module* mod, std::uintptr_t pc) {
    Dwarf_Addr start = 0;
    const char* name = dwfl_module_info(mod, nullptr, &start, nullptr, nullptr, nullptr,
                                        nullptr, nullptr);
    if (name == nullptr) return "??";
    std::string base(name);
    if (auto slash = base.rfind('/'); slash != std::string::npos) base.erase(0, slash + 1);
    char offset[32];
    std::snprintf(offset, sizeof offset, "+0x%llx", static_cast<unsigned long long>(pc - start));
    return base + offset;
  }

  common::Mutex mu_;
  Dwfl* dwfl_ ABSL_GUARDED_BY(mu_) = nullptr;  // created on first use
  std::unordered_map<std::uintptr_t, std::vector<SymbolFrame>> cache_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<Dwfl_Module*, std::vector<Symbol>> symbols_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

Symbolizer& Symbolizer::instance() {
  // Leaked on purpose: profiles may be written from atexit handlers and the
  // preload object's destructor, after static destructors would have run.
  static Symbolizer* const instance = new DwflSymbolizer();
  return *instance;
}

// The public methods are not virtual (the header fixes the API); the one
// implementation is DwflSymbolizer, the only class instance() ever creates.
std::vector<SymbolFrame> Symbolizer::symbolize(std::uintptr_t pc) {
  return static_cast<DwflSymbolizer*>(this)->symbolize_impl(pc);
}

std::vector<LoadedModule> Symbolizer::modules() { return internal::loaded_modules(); }

void Symbolizer::set_separate_debuginfo(bool on) noexcept {
  g_separate_debuginfo.store(on, std::memory_order_relaxed);  // relaxed: see the flag
}

bool is_allocator_plumbing(std::string_view f, std::string_view file) noexcept {
  if (file.find("/c++/") != std::string_view::npos) return true;  // libstdc++/libc++ headers
  static constexpr std::array<std::string_view, 33> kPrefixes = {
      "operator new", "operator delete", "malloc", "calloc", "realloc", "posix_memalign",
      "aligned_alloc", "memalign", "valloc", "pvalloc", "__libc_", "syncscope::prof::internal::",
      "std::allocator", "std::__new_allocator", "__gnu_cxx::new_allocator", "__gnu_cxx::__aligned",
      "std::allocator_traits", "std::__allocated_ptr", "std::_Sp_", "std::__shared_count",
      "std::__shared_ptr", "std::shared_ptr<", "std::make_shared", "std::allocate_shared",
      "std::__allocate_shared", "std::__make_shared", "std::_Vector_base", "std::vector<",
      "std::unique_ptr", "std::make_unique", "std::_Hashtable", "std::__detail::", "std::_Rb_tree"};
  static constexpr std::array<std::string_view, 8> kMore = {
      "std::__cxx11::basic_string", "std::basic_string", "std::thread::_S_make_state",
      "std::thread::thread", "std::_Function_base", "std::function<", "std::_Deque_base", "std::deque<"};
  for (std::string_view p : kPrefixes)
    if (f.substr(0, p.size()) == p) return true;
  for (std::string_view p : kMore)
    if (f.substr(0, p.size()) == p) return true;
  return false;
}

bool is_allocator_plumbing(const SymbolFrame& frame) noexcept {
  if (frame.function == "??") return true;
  return is_allocator_plumbing(frame.function, frame.inlined ? std::string_view(frame.file) : std::string_view());
}

}  // namespace syncscope::prof
