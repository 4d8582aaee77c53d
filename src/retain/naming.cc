// Site and root naming (symbolization happens here, after the world resumed).
#include "retain/naming.h"

#include <cxxabi.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>
#include <link.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <map>
#include <mutex>
#include <cinttypes>
#include <cstdio>
#include <fstream>

#include "common/annotated_mutex.h"
#include "retain/symbol_source.h"
#include "syncscope/prof/live_blocks.h"
#include "syncscope/prof/symbolizer.h"
#include "syncscope/prof/untracked_scope.h"

namespace syncscope::retain::internal {
namespace {

constexpr std::size_t kSiteFrames = 4;

}  // namespace

std::string basename_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

namespace {

// "a<b<c>, d>::f" -> "a<...>::f" when the template arguments are long.
std::string elide_templates(std::string_view f) {
  constexpr std::size_t kLongArgs = 48;
  std::string out;
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '<' || (i >= 8 && f.substr(i - 8, 8) == "operator")) {
      out += f[i];
      continue;
    }
    std::size_t j = i, depth = 0;
    for (; j < f.size(); ++j) {
      if (f[j] == '<') ++depth;
      if (f[j] == '>' && --depth == 0) break;
    }
    if (j - i > kLongArgs) {
      out += "<...>";
    } else {
      out += f.substr(i, j - i + 1);
    }
    i = j;
  }
  return out;
}

}  // namespace

std::string short_function(std::string_view f) {
  // Drop the argument list of a demangled name: "ns::fn(int, char)" -> "ns::fn",
  // and elide long template argument lists. "operator()" stays.
  int angle = 0;
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] == '<') ++angle;
    if (f[i] == '>') --angle;
    if (f[i] == '(' && angle == 0 && !(i >= 8 && f.substr(i - 8, 8) == "operator")) {
      if (f.substr(i, 12) == "(anonymous n") continue;
      return elide_templates(f.substr(0, i));
    }
  }
  return elide_templates(f);
}

SiteDescription describe_pcs(const std::vector<std::uintptr_t>& pcs) {
  return describe_pcs(pcs, live_symbol_source());
}

SiteDescription describe_pcs(const std::vector<std::uintptr_t>& pcs, const SymbolSource& symbols) {
  SiteDescription d;
  std::string first;  // fallback when every frame is plumbing
  for (std::size_t i = 0; i < pcs.size() && d.frames.size() < kSiteFrames; ++i) {
    // Return addresses: pc - 1 is inside the call instruction (its line).
    for (const prof::SymbolFrame& f : symbols.symbolize(pcs[i] - 1)) {
      if (f.function == "??" && f.file.empty()) continue;
      std::string shown = short_function(f.function);
      // A library header as the location of a user function is the inlined
      // callee's line, not the function's own: show no location then.
      if (!f.file.empty() && f.file.find("/c++/") == std::string::npos) {
        shown += " " + basename_of(f.file) + ":" + std::to_string(f.line);
      }
      if (first.empty()) first = short_function(f.function);
      if (prof::is_allocator_plumbing(f)) continue;
      if (d.name.empty()) d.name = short_function(f.function);
      if (d.frames.size() < kSiteFrames) d.frames.push_back(std::move(shown));
    }
  }
  if (d.name.empty()) d.name = first.empty() ? "unknown site" : first;
  return d;
}

SiteDescription describe_live_site(std::uint32_t site) {
  const prof::AllocationSite s = prof::LiveBlockTable::instance().site(site);
  if (s.pcs.empty()) return SiteDescription{"site#" + std::to_string(site), {}};
  return describe_pcs(s.pcs);
}

std::string frame_function(const ThreadInfo& t, std::uintptr_t addr) {
  // Frame i owns [sp[i], sp[i+1]); words below sp[0] (red zone) belong to frame 0.
  const std::size_t n = t.frame_sp.size();
  if (n == 0 || addr >= t.frame_sp.back() + 4096 * 16) return "";
  std::size_t i = 0;
  while (i + 1 < n && t.frame_sp[i + 1] <= addr) ++i;
  const std::uintptr_t pc = i == 0 ? t.frame_pc[0] : t.frame_pc[i] - 1;
  const auto frames = prof::Symbolizer::instance().symbolize(pc);
  if (frames.empty() || frames.back().function == "??") return "";
  return short_function(frames.back().function);
}

namespace {

struct DataSymbol {
  std::uintptr_t start = 0;
  std::uint64_t size = 0;
  std::string name;
};

std::vector<DataSymbol> read_data_symbols(const std::string& path) {
  std::vector<DataSymbol> out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  for (Elf_Scn* scn = elf ? elf_nextscn(elf, nullptr) : nullptr; scn; scn = elf_nextscn(elf, scn)) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_SYMTAB || shdr.sh_entsize == 0) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    const std::size_t count = shdr.sh_size / shdr.sh_entsize;
    for (std::size_t i = 0; data && i < count; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) continue;
      if (GELF_ST_TYPE(sym.st_info) != STT_OBJECT || sym.st_size == 0) continue;
      const char* name = elf_strptr(elf, shdr.sh_link, sym.st_name);
      if (name == nullptr) continue;
      int status = 0;
      char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
      out.push_back({sym.st_value, sym.st_size, status == 0 && demangled ? demangled : name});
      std::free(demangled);
    }
  }
  if (elf) elf_end(elf);
  ::close(fd);
  std::sort(out.begin(), out.end(), [](const DataSymbol& a, const DataSymbol& b) { return a.start < b.start; });
  return out;
}

}  // namespace

std::string data_symbol(const std::string& elf_path, std::uintptr_t offset) {
  struct Cache {
    common::Mutex mu;
    std::map<std::string, std::vector<DataSymbol>> by_file ABSL_GUARDED_BY(mu);
  };
  static auto* cache = new Cache;  // never freed: used at exit too
  common::MutexLock lock(cache->mu);
  auto it = cache->by_file.find(elf_path);
  if (it == cache->by_file.end()) {
    const prof::UntrackedScope untracked;  // the cache is ours, not the program's
    it = cache->by_file.emplace(elf_path, read_data_symbols(elf_path)).first;
  }
  const std::vector<DataSymbol>& syms = it->second;
  auto s = std::upper_bound(syms.begin(), syms.end(), offset,
                            [](std::uintptr_t a, const DataSymbol& d) { return a < d.start; });
  if (s == syms.begin()) return "";
  --s;
  if (offset - s->start >= s->size) return "";
  if (offset == s->start) return s->name;
  char off[32];
  std::snprintf(off, sizeof off, "+0x%" PRIxPTR, offset - s->start);
  return s->name + off;
}

std::string global_symbol(std::uintptr_t addr, const std::string& module, std::uintptr_t base) {
  const std::string sym = data_symbol(module.empty() ? "/proc/self/exe" : module, addr - base);
  if (!sym.empty()) return sym;
  Dl_info info{};
  void* sym_entry = nullptr;
  // dladdr1 gives the symbol's size, so a word past the end of the nearest
  // exported symbol is not misnamed after it (stripped modules).
  if (dladdr1(reinterpret_cast<void*>(addr), &info, &sym_entry, RTLD_DL_SYMENT) != 0 &&
      info.dli_sname != nullptr && sym_entry != nullptr && info.dli_saddr != nullptr) {
    const auto* entry = static_cast<const ElfW(Sym)*>(sym_entry);
    const auto start = reinterpret_cast<std::uintptr_t>(info.dli_saddr);
    if (addr >= start && addr < start + entry->st_size) {
      char off[32];
      std::snprintf(off, sizeof off, "+0x%" PRIxPTR, addr - start);
      return std::string(info.dli_sname) + (addr == start ? "" : off);
    }
  }
  return "";
}

}  // namespace syncscope::retain::internal
