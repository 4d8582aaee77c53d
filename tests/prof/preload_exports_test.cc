// What libsyncscope_preload.so exports and how its interposers reach their
// data and glibc (issue 16, items 1 and 3), read from the object file itself
// (its ELF symbol and relocation tables; the ELF spec's layout from <elf.h>):
// every allocation function docs/prof.md names is exported, nothing outside
// preload/preload.map's patterns is, the hooks' hidden names for their
// globals are the exported objects themselves (same address, not copies),
// the interposers call glibc through the GOT without PLT stubs, and the
// object needs no zlib and no C++ runtime and runs no iostream initializer
// at load.
#include <elf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

// The symbols of one table (.dynsym or .symtab) and the relocations of the
// object, as far as these tests need them.
struct ElfTables {
  std::map<std::string, Elf64_Sym> dynamic;  // defined .dynsym entries by name
  std::map<std::string, Elf64_Sym> all;      // .symtab entries by name (last wins)
  // (relocation type, symbol name) of every .rela.* entry with a symbol.
  std::vector<std::pair<unsigned, std::string>> relocations;
  std::set<std::string> undefined;  // undefined .dynsym entries: what the loader binds elsewhere
  std::vector<std::string> needed;  // DT_NEEDED entries of .dynamic, in order
  // (library, version) of every .gnu.version_r entry: the symbol versions the
  // object's undefined symbols require, e.g. ("libc.so.6", "GLIBC_2.34").
  std::vector<std::pair<std::string, std::string>> required_versions;
};

ElfTables read_tables(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ElfTables out;
  if (bytes.size() < sizeof(Elf64_Ehdr) || std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0) return out;
  Elf64_Ehdr eh;
  std::memcpy(&eh, bytes.data(), sizeof eh);
  std::vector<Elf64_Shdr> sections(eh.e_shnum);
  std::memcpy(sections.data(), bytes.data() + eh.e_shoff, sizeof(Elf64_Shdr) * eh.e_shnum);
  const auto symbols = [&](const Elf64_Shdr& table) {
    std::vector<std::pair<std::string, Elf64_Sym>> syms(table.sh_size / sizeof(Elf64_Sym));
    const char* names = bytes.data() + sections[table.sh_link].sh_offset;
    for (std::size_t i = 0; i < syms.size(); ++i) {
      std::memcpy(&syms[i].second, bytes.data() + table.sh_offset + i * sizeof(Elf64_Sym), sizeof(Elf64_Sym));
      syms[i].first = names + syms[i].second.st_name;
    }
    return syms;
  };
  for (const Elf64_Shdr& s : sections) {
    if (s.sh_type == SHT_DYNSYM) {
      for (auto& [name, sym] : symbols(s)) {
        if (sym.st_shndx != SHN_UNDEF && ELF64_ST_BIND(sym.st_info) != STB_LOCAL) out.dynamic[name] = sym;
        if (sym.st_shndx == SHN_UNDEF && !name.empty()) out.undefined.insert(name);
      }
    } else if (s.sh_type == SHT_SYMTAB) {
      for (auto& [name, sym] : symbols(s)) out.all[name] = sym;
    }
  }
  for (const Elf64_Shdr& s : sections) {
    if (s.sh_type != SHT_DYNAMIC) continue;
    const char* names = bytes.data() + sections[s.sh_link].sh_offset;
    for (std::size_t off = 0; off + sizeof(Elf64_Dyn) <= s.sh_size; off += sizeof(Elf64_Dyn)) {
      Elf64_Dyn d;
      std::memcpy(&d, bytes.data() + s.sh_offset + off, sizeof d);
      if (d.d_tag == DT_NULL) break;
      if (d.d_tag == DT_NEEDED) out.needed.emplace_back(names + d.d_un.d_val);
    }
  }
  for (const Elf64_Shdr& s : sections) {
    if (s.sh_type != SHT_GNU_verneed) continue;
    // The ELF symbol-versioning layout: a chain of Elf64_Verneed (one per
    // library), each with a chain of Elf64_Vernaux (one per version).
    const char* names = bytes.data() + sections[s.sh_link].sh_offset;
    std::size_t need_off = s.sh_offset;
    for (;;) {
      Elf64_Verneed need;
      std::memcpy(&need, bytes.data() + need_off, sizeof need);
      std::size_t aux_off = need_off + need.vn_aux;
      for (unsigned i = 0; i < need.vn_cnt; ++i) {
        Elf64_Vernaux aux;
        std::memcpy(&aux, bytes.data() + aux_off, sizeof aux);
        out.required_versions.emplace_back(names + need.vn_file, names + aux.vna_name);
        if (aux.vna_next == 0) break;
        aux_off += aux.vna_next;
      }
      if (need.vn_next == 0) break;
      need_off += need.vn_next;
    }
  }
  for (const Elf64_Shdr& s : sections) {
    if (s.sh_type != SHT_RELA) continue;
    const auto syms = symbols(sections[s.sh_link]);
    for (std::size_t off = 0; off + sizeof(Elf64_Rela) <= s.sh_size; off += sizeof(Elf64_Rela)) {
      Elf64_Rela r;
      std::memcpy(&r, bytes.data() + s.sh_offset + off, sizeof r);
      const auto sym = ELF64_R_SYM(r.r_info);
      if (sym != 0 && sym < syms.size()) {
        out.relocations.emplace_back(static_cast<unsigned>(ELF64_R_TYPE(r.r_info)), syms[sym].first);
      }
    }
  }
  return out;
}

const ElfTables& preload_tables() {
  static const ElfTables tables = read_tables(SYNCSCOPE_PRELOAD_PATH);
  return tables;
}

// preload/preload.map's global patterns, as prefixes ('*') or exact names.
bool allowed_by_version_script(const std::string& name) {
  static const std::set<std::string> kExact = {
      "malloc",  "free",          "calloc",  "realloc", "reallocarray",      "memalign",
      "aligned_alloc", "posix_memalign", "valloc", "pvalloc", "malloc_usable_size", "pthread_create"};
  static const char* const kPrefixes[] = {"_Znw", "_Zna", "_Zdl", "_Zda", "_ZN9syncscope", "_ZNK9syncscope",
                                          "syncscope_"};
  if (kExact.count(name) != 0) return true;
  for (const char* p : kPrefixes) {
    if (name.rfind(p, 0) == 0) return true;
  }
  return false;
}

TEST(PreloadExports, EveryDocumentedAllocationFunction_IsExported) {
  const auto& dyn = preload_tables().dynamic;
  ASSERT_FALSE(dyn.empty()) << "no .dynsym read from " << SYNCSCOPE_PRELOAD_PATH;
  // docs/prof.md, "Two ways in": the C functions and every operator
  // new/delete form (plain, array, sized, aligned, nothrow).
  const char* const kPromised[] = {
      "malloc", "free", "calloc", "realloc", "reallocarray", "posix_memalign", "aligned_alloc",
      "memalign", "valloc", "pvalloc", "malloc_usable_size",
      "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_t",
      "_ZnamSt11align_val_t", "_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
      "_ZdlPv", "_ZdaPv", "_ZdlPvm", "_ZdaPvm", "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t",
      "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
      "_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t",
      // The C entry point for an on-demand dump, and what the extension
      // objects resolve against the core (one sampled heap for all).
      "syncscope_preload_request_dump", "_ZN9syncscope4prof8internal9tls_stateE"};
  for (const char* name : kPromised) {
    const auto it = dyn.find(name);
    ASSERT_NE(it, dyn.end()) << name << " is not exported";
    EXPECT_NE(ELF64_ST_VISIBILITY(it->second.st_other), STV_HIDDEN) << name;
  }
}

TEST(PreloadExports, EveryExport_MatchesThePreloadVersionScript) {
  const auto& dyn = preload_tables().dynamic;
  ASSERT_FALSE(dyn.empty());
  for (const auto& [name, sym] : dyn) {
    // Version definitions (the object has none today) are not symbols of ours.
    if (sym.st_shndx == SHN_ABS && ELF64_ST_TYPE(sym.st_info) == STT_OBJECT && sym.st_value == 0) continue;
    EXPECT_TRUE(allowed_by_version_script(name)) << name << " is exported but not in preload/preload.map";
    EXPECT_EQ(name.find("_hidden"), std::string::npos) << name << ": a hidden name leaked into .dynsym";
  }
}

// The fast path reads this object through a hidden name (relative to the
// code, no GOT load); the name must be the exported object itself, or the
// hooks would test flags that nothing ever sets.
TEST(PreloadExports, HookGlobalsHiddenNames_AreTheExportedObjects) {
  const auto& t = preload_tables();
  ASSERT_FALSE(t.all.empty()) << "no .symtab (stripped object?)";
  const std::pair<const char*, const char*> kPairs[] = {
      {"_ZN9syncscope4prof8internal19g_hook_slow_reasonsE",
       "_ZN9syncscope4prof8internal26g_hook_slow_reasons_hiddenE"},
  };
  for (const auto& [exported, hidden] : kPairs) {
    const auto e = t.all.find(exported);
    const auto h = t.all.find(hidden);
    ASSERT_NE(e, t.all.end()) << exported;
    ASSERT_NE(h, t.all.end()) << hidden << " missing: the fast path reads the global through the GOT";
    EXPECT_EQ(e->second.st_value, h->second.st_value) << hidden << " is not the same object";
    EXPECT_EQ(e->second.st_size, h->second.st_size) << hidden;
    EXPECT_EQ(t.dynamic.count(hidden), 0u) << hidden << " is exported";
  }
}

// Every process that starts with the preload maps, relocates and
// initializes what the core object needs (issue 16, item 1). zlib is
// dlopen'ed by the first dump instead: most processes write none.
TEST(PreloadExports, CoreNeedsNoZlib) {
  const auto& needed = preload_tables().needed;
  ASSERT_FALSE(needed.empty()) << "no DT_NEEDED read from " << SYNCSCOPE_PRELOAD_PATH;
  EXPECT_NE(std::find(needed.begin(), needed.end(), "libc.so.6"), needed.end());  // the reader works
  for (const std::string& lib : needed) EXPECT_EQ(lib.rfind("libz.", 0), std::string::npos) << lib;
  EXPECT_EQ(preload_tables().undefined.count("deflate"), 0u) << "zlib bound at load";
}

// Nor an unwinder library: stacks the shape walk refuses go to libgcc's
// unwinder, linked into the object. libunwind (with the liblzma it loads)
// cost every preloaded process two more libraries to map and relocate and an
// initializer run before main: an `ls` of two files ran 287,000 instructions
// more than without the preload with it, 139,000 without (callgrind).
TEST(PreloadExports, CoreNeedsNoUnwinderLibrary) {
  const auto& needed = preload_tables().needed;
  ASSERT_FALSE(needed.empty()) << "no DT_NEEDED read from " << SYNCSCOPE_PRELOAD_PATH;
  EXPECT_NE(std::find(needed.begin(), needed.end(), "libc.so.6"), needed.end());  // the reader works
  for (const std::string& lib : needed) {
    EXPECT_EQ(lib.rfind("libunwind", 0), std::string::npos) << lib;
    EXPECT_EQ(lib.rfind("liblzma.", 0), std::string::npos) << lib;
  }
  for (const std::string& name : preload_tables().undefined) {
    EXPECT_EQ(name.rfind("_U", 0), std::string::npos) << name << " is bound at load";  // libunwind's _ULx86_64_*, _Unwind_*
    EXPECT_EQ(name.rfind("unw_", 0), std::string::npos) << name << " is bound at load";
  }
}

// The core object needs no C++ runtime (issue 16, item 1): libstdc++ (with
// the libm and libgcc_s it loads) was most of the object's cost in each
// process, C programs included. Neither among its libraries nor behind any
// symbol version it requires (the runtime's GLIBCXX_* and CXXABI_*), so no
// symbol of it is bound at load either.
TEST(PreloadExports, CoreNeedsNoCxxRuntime) {
  const auto& needed = preload_tables().needed;
  ASSERT_FALSE(needed.empty()) << "no DT_NEEDED read from " << SYNCSCOPE_PRELOAD_PATH;
  for (const std::string& lib : needed) {
    EXPECT_EQ(lib.rfind("libstdc++.", 0), std::string::npos) << lib;
    EXPECT_EQ(lib.rfind("libgcc_s.", 0), std::string::npos) << lib;
    // Loading libm cost each process about 0.5 MiB resident (sampling_math.h).
    EXPECT_EQ(lib.rfind("libm.", 0), std::string::npos) << lib;
  }
  const auto& versions = preload_tables().required_versions;
  // The reader works: the core binds glibc's functions by version.
  ASSERT_NE(std::find_if(versions.begin(), versions.end(),
                         [](const auto& v) { return v.first == "libc.so.6" && v.second.rfind("GLIBC_2.", 0) == 0; }),
            versions.end());
  for (const auto& [lib, version] : versions) {
    EXPECT_EQ(version.rfind("GLIBCXX_", 0), std::string::npos) << lib << " " << version;
    EXPECT_EQ(version.rfind("CXXABI_", 0), std::string::npos) << lib << " " << version;
  }
  // The usual entry points of the exception runtime, by name (an unversioned
  // import would name no version).
  for (const char* name : {"__gxx_personality_v0", "__cxa_throw", "__cxa_begin_catch", "_Unwind_Resume",
                           "__cxa_guard_acquire", "_ZSt9terminatev", "_ZSt20__throw_length_errorPKc"}) {
    EXPECT_EQ(preload_tables().undefined.count(name), 0u) << name << " is bound at load";
  }
}

// No translation unit of the core runs libstdc++'s iostream initializer at
// load (GCC 12: one static std::ios_base::Init per unit that includes
// <iostream>), which builds the standard streams and the classic locale in
// every process, C programs included.
TEST(PreloadExports, CoreRunsNoIostreamInitializer) {
  const auto& undefined = preload_tables().undefined;
  ASSERT_FALSE(undefined.empty()) << "no undefined .dynsym entries read";
  EXPECT_NE(undefined.count("__libc_malloc"), 0u);  // the reader sees the core's glibc imports
  EXPECT_EQ(undefined.count("_ZNSt8ios_base4InitC1Ev"), 0u) << "std::ios_base::Init::Init() is called at load";
}

// The operator new hooks read the program's new-handler from the program's
// libstdc++ at run time, on their out-of-memory path only
// (hooks/program_cxx_runtime.h), instead of binding std::get_new_handler at
// load: a step towards a core that needs no libstdc++ (issue 16, item 1).
// PreloadNewHandlerTest checks the behaviour.
TEST(PreloadExports, NewHandlerIsNotBoundAtLoad) {
  const auto& undefined = preload_tables().undefined;
  ASSERT_FALSE(undefined.empty()) << "no undefined .dynsym entries read";
  EXPECT_NE(undefined.count("dlsym"), 0u);  // the reader sees the core's libc imports
  EXPECT_EQ(undefined.count("_ZSt15get_new_handlerv"), 0u) << "std::get_new_handler() bound at load";
  EXPECT_EQ(undefined.count("_ZSt7nothrow"), 0u) << "std::nothrow bound at load";
}

#if defined(__x86_64__)
// The interposers call glibc's functions through their GOT entries
// (-fno-plt on the hook sources): no PLT stub, so no JUMP_SLOT relocation.
TEST(PreloadExports, InterposersCallGlibc_WithoutPltStubs) {
  const auto& rel = preload_tables().relocations;
  ASSERT_FALSE(rel.empty());
  int glibc_entries = 0;
  for (const auto& [type, name] : rel) {
    if (name.rfind("__libc_", 0) != 0) continue;
    ++glibc_entries;
    EXPECT_NE(type, static_cast<unsigned>(R_X86_64_JUMP_SLOT)) << name << " is called through a PLT stub";
  }
  EXPECT_GE(glibc_entries, 2) << "__libc_malloc and __libc_free not found among the relocations";
}
#endif

}  // namespace
