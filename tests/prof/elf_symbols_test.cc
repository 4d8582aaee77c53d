// elf_function_names (the address-only dump's names, issue 16 items 1-2)
// against the dynamic loader as the oracle: for functions of libc looked up
// by name with dlsym, the name found for an address inside each must be one
// that dlsym resolves to the same function (aliases share an address), in
// the caller's order however the addresses sort. A synthetic file with a
// large table checks that reading it leaves the peak resident set nearly
// where it was (issue 16 item 4: no file pages join the RSS).
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <elf.h>
#include <link.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "prof/elf_symbols.h"
#include "support/scratch_dir.h"

namespace syncscope::prof::internal {
namespace {

struct Module {
  std::string path;
  std::uintptr_t bias = 0;
};

// The file and load bias of the object that holds `addr`.
Module module_of(const void* addr) {
  Dl_info info{};
  link_map* map = nullptr;
  if (dladdr1(addr, &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) == 0 || map == nullptr) {
    return {};
  }
  return {info.dli_fname, map->l_addr};
}

TEST(ElfSymbols, NamesInsideLibcFunctions_ResolveBackToThem) {
  // Not in address order on purpose; none is an IFUNC (dlsym would give
  // the implementation it selects, not the symbol).
  const char* const kFunctions[] = {"qsort", "getpid", "strtol", "fopen", "abort", "bsearch", "setenv"};
  std::vector<std::uintptr_t> entries;
  for (const char* name : kFunctions) {
    void* f = dlsym(RTLD_DEFAULT, name);
    ASSERT_NE(f, nullptr) << name;
    entries.push_back(reinterpret_cast<std::uintptr_t>(f));
  }
  const Module libc = module_of(reinterpret_cast<void*>(entries[0]));
  ASSERT_FALSE(libc.path.empty());
  std::vector<std::uint64_t> vaddrs;
  for (std::uintptr_t e : entries) {
    ASSERT_EQ(module_of(reinterpret_cast<void*>(e)).path, libc.path) << "not all in one object";
    vaddrs.push_back(e - libc.bias + 1);  // inside, past the entry
  }
  const std::vector<std::string> names = elf_function_names(libc.path, vaddrs);
  ASSERT_EQ(names.size(), vaddrs.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    ASSERT_FALSE(names[i].empty()) << kFunctions[i] << ": no name";
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(dlsym(RTLD_DEFAULT, names[i].c_str())), entries[i])
        << kFunctions[i] << " named " << names[i];
  }
}

TEST(ElfSymbols, AddressInNoFunction_AndUnreadableFile_NameNothing) {
  const Module libc = module_of(dlsym(RTLD_DEFAULT, "qsort"));
  ASSERT_FALSE(libc.path.empty());
  // Virtual address 1 is in the ELF header, below every function.
  const std::uint64_t below_all[] = {1};
  const std::vector<std::string> none = elf_function_names(libc.path, below_all);
  ASSERT_EQ(none.size(), 1u);
  EXPECT_EQ(none[0], "");
  const std::vector<std::string> missing = elf_function_names("/nonexistent/libnothing.so", below_all);
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0], "");
}

// The synthetic table: kSymbols functions of 32 bytes each from kFirstValue,
// each with a long name, so the table and its strings take about 3.8 MB.
constexpr std::size_t kSymbols = 60000;
constexpr std::uint64_t kFirstValue = 0x10000;
constexpr std::uint64_t kFunctionBytes = 32;

std::string synthetic_name(std::size_t i) {
  return "synthetic_function_number_" + std::to_string(i) + "_with_a_long_name";
}

// Writes an ELF64 file with a .symtab of kSymbols functions and its .strtab;
// returns the bytes of the two sections together.
std::uint64_t write_synthetic_elf(const std::string& path) {
  std::vector<Elf64_Sym> symbols(kSymbols + 1);  // [0] is the null symbol
  std::string strtab(1, '\0');
  for (std::size_t i = 1; i <= kSymbols; ++i) {
    Elf64_Sym& s = symbols[i];
    s.st_name = static_cast<std::uint32_t>(strtab.size());
    s.st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC);
    s.st_shndx = 1;
    s.st_value = kFirstValue + i * kFunctionBytes;
    s.st_size = kFunctionBytes;
    strtab += synthetic_name(i);
    strtab += '\0';
  }
  const std::uint64_t symtab_offset = 4096;
  const std::uint64_t symtab_size = symbols.size() * sizeof(Elf64_Sym);
  const std::uint64_t strtab_offset = symtab_offset + symtab_size;
  const std::uint64_t shoff = (strtab_offset + strtab.size() + 7) & ~std::uint64_t{7};
  Elf64_Shdr sections[3] = {};
  sections[1].sh_type = SHT_SYMTAB;
  sections[1].sh_offset = symtab_offset;
  sections[1].sh_size = symtab_size;
  sections[1].sh_link = 2;
  sections[1].sh_entsize = sizeof(Elf64_Sym);
  sections[2].sh_type = SHT_STRTAB;
  sections[2].sh_offset = strtab_offset;
  sections[2].sh_size = strtab.size();
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_DYN;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_shoff = shoff;
  eh.e_shentsize = sizeof(Elf64_Shdr);
  eh.e_shnum = 3;
  std::string file(shoff + sizeof sections, '\0');
  std::memcpy(file.data(), &eh, sizeof eh);
  std::memcpy(file.data() + symtab_offset, symbols.data(), symtab_size);
  std::memcpy(file.data() + strtab_offset, strtab.data(), strtab.size());
  std::memcpy(file.data() + shoff, sections, sizeof sections);
  std::ofstream(path, std::ios::binary).write(file.data(), static_cast<std::streamsize>(file.size()));
  return symtab_size + strtab.size();
}

// A "Vm...:" figure of /proc/self/status, in KiB; -1 when absent.
long status_kib(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::size_t len = std::strlen(field);
  while (std::getline(status, line)) {
    if (line.compare(0, len, field) == 0 && line.size() > len && line[len] == ':') {
      return std::stol(line.substr(len + 1));
    }
  }
  return -1;
}

TEST(ElfSymbols, LargeTable_NamesFound_PeakResidentGrowsByFarLessThanTheTable) {
  test_support::ScratchDir dir;
  const std::string path = dir.file("synthetic.elf");
  const std::uint64_t table_bytes = write_synthetic_elf(path);
  ASSERT_GT(table_bytes, 3u << 20);
  // 200 addresses spread over the whole table, each inside its function.
  std::vector<std::uint64_t> vaddrs;
  std::vector<std::size_t> expected;
  for (std::size_t i = kSymbols; i >= 1; i -= kSymbols / 200) {
    vaddrs.push_back(kFirstValue + i * kFunctionBytes + 5);
    expected.push_back(i);
  }
  {  // Reset the peak to the current resident set (Linux's clear_refs "5").
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
  }
  const long rss_before = status_kib("VmRSS");
  ASSERT_GT(rss_before, 0);
  // Reading /proc/self/status itself allocates: a little slack, far below
  // the quarter of the table the check below allows.
  ASSERT_LE(status_kib("VmHWM"), rss_before + 256) << "the peak was not reset";
  const std::vector<std::string> names = elf_function_names(path, vaddrs);
  const long peak_growth_kib = status_kib("VmHWM") - rss_before;
  ASSERT_EQ(names.size(), vaddrs.size());
  for (std::size_t k = 0; k < names.size(); ++k) {
    EXPECT_EQ(names[k], synthetic_name(expected[k])) << "address " << vaddrs[k];
  }
  RecordProperty("peak_growth_kib", static_cast<int>(peak_growth_kib));
  // Mapped, the table's pages joined the resident set (all of .symtab and
  // fault-around's 64 KiB around every name); read, only a buffer does.
  EXPECT_LT(peak_growth_kib * 1024, static_cast<long>(table_bytes / 4))
      << "peak RSS grew by " << peak_growth_kib << " KiB reading a table of " << table_bytes / 1024 << " KiB";
}

}  // namespace
}  // namespace syncscope::prof::internal
