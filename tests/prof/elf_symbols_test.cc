// elf_function_names (the address-only dump's names, issue 16 items 1-2)
// against the dynamic loader as the oracle: for functions of libc looked up
// by name with dlsym, the name found for an address inside each must be one
// that dlsym resolves to the same function (aliases share an address), in
// the caller's order however the addresses sort.
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <link.h>

#include <cstdint>
#include <string>
#include <vector>

#include "prof/elf_symbols.h"

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

}  // namespace
}  // namespace syncscope::prof::internal
