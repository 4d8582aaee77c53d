#include "prof/elf_symbols.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "prof/thread_state.h"

namespace syncscope::prof::internal {
namespace {

// The section of `type` if the file has one within bounds, else nullptr.
const Elf64_Shdr* find_section(const unsigned char* base, std::size_t size,
                               const Elf64_Ehdr* eh, std::uint32_t type) {
  if (eh->e_shoff == 0 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
      eh->e_shoff + std::uint64_t{eh->e_shnum} * sizeof(Elf64_Shdr) > size) {
    return nullptr;
  }
  auto* sh = reinterpret_cast<const Elf64_Shdr*>(base + eh->e_shoff);
  for (unsigned i = 0; i < eh->e_shnum; ++i) {
    if (sh[i].sh_type == type && sh[i].sh_offset + sh[i].sh_size <= size &&
        sh[i].sh_link < eh->e_shnum) {
      return &sh[i];
    }
  }
  return nullptr;
}

}  // namespace

ElfSymbols::ElfSymbols(const std::string& path) {
  HookGuard guard;  // the profiler's own memory
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st {};
  if (fstat(fd, &st) == 0 && st.st_size >= static_cast<off_t>(sizeof(Elf64_Ehdr))) {
    map_size_ = static_cast<std::size_t>(st.st_size);
    map_ = mmap(nullptr, map_size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map_ == MAP_FAILED) map_ = nullptr;
  }
  close(fd);
  if (map_ == nullptr) return;
  auto* base = static_cast<const unsigned char*>(map_);
  auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
  if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64) return;
  const Elf64_Shdr* symtab = find_section(base, map_size_, eh, SHT_SYMTAB);
  if (symtab == nullptr) symtab = find_section(base, map_size_, eh, SHT_DYNSYM);
  if (symtab == nullptr || symtab->sh_entsize != sizeof(Elf64_Sym)) return;
  const auto* sections = reinterpret_cast<const Elf64_Shdr*>(base + eh->e_shoff);
  const Elf64_Shdr& strings = sections[symtab->sh_link];
  if (strings.sh_offset + strings.sh_size > map_size_) return;
  strtab_ = reinterpret_cast<const char*>(base + strings.sh_offset);
  strtab_size_ = strings.sh_size;
  const auto* syms = reinterpret_cast<const Elf64_Sym*>(base + symtab->sh_offset);
  const std::size_t n = symtab->sh_size / sizeof(Elf64_Sym);
  symbols_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned type = ELF64_ST_TYPE(syms[i].st_info);
    if ((type != STT_FUNC && type != STT_GNU_IFUNC) || syms[i].st_shndx == SHN_UNDEF ||
        syms[i].st_value == 0 || syms[i].st_name >= strtab_size_) {
      continue;
    }
    symbols_.push_back({syms[i].st_value, syms[i].st_size, syms[i].st_name});
  }
  // By address; among aliases at one address the larger size first.
  std::sort(symbols_.begin(), symbols_.end(), [](const Symbol& a, const Symbol& b) {
    return a.value != b.value ? a.value < b.value : a.size > b.size;
  });
}

ElfSymbols::~ElfSymbols() {
  if (map_ != nullptr) munmap(map_, map_size_);
}

std::string ElfSymbols::name_at(std::uint64_t vaddr) const {
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), vaddr,
                             [](std::uint64_t a, const Symbol& s) { return a < s.value; });
  if (it == symbols_.begin()) return "";
  const Symbol& s = *std::prev(it);
  // Sized symbols end at value + size; unsized ones reach the next symbol.
  if (s.size != 0 && vaddr >= s.value + s.size) return "";
  const char* name = strtab_ + s.name;
  return std::string(name, strnlen(name, strtab_size_ - s.name));
}

}  // namespace syncscope::prof::internal
