#include "prof/elf_symbols.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <numeric>

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

// The whole file, mapped read-only; empty when it cannot be.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st {};
    if (fstat(fd, &st) == 0 && st.st_size >= static_cast<off_t>(sizeof(Elf64_Ehdr))) {
      size_ = static_cast<std::size_t>(st.st_size);
      void* map = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (map != MAP_FAILED) base_ = static_cast<const unsigned char*>(map);
    }
    close(fd);
  }
  ~MappedFile() {
    if (base_ != nullptr) munmap(const_cast<unsigned char*>(base_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const unsigned char* base() const { return base_; }
  std::size_t size() const { return size_; }

 private:
  const unsigned char* base_ = nullptr;  // nullptr when unreadable
  std::size_t size_ = 0;
};

// The best candidates seen so far for one address: among symbols at the
// greatest value not above it, the largest sized one and an unsized one.
struct Candidates {
  std::uint64_t value = 0;
  const Elf64_Sym* sized = nullptr;    // largest st_size at `value`
  const Elf64_Sym* unsized = nullptr;  // st_size 0 at `value`
  bool empty() const { return sized == nullptr && unsized == nullptr; }
  void offer(const Elf64_Sym& s) {
    if (!empty() && s.st_value < value) return;
    if (empty() || s.st_value > value) *this = Candidates{s.st_value, nullptr, nullptr};
    if (s.st_size == 0) {
      if (unsized == nullptr) unsized = &s;
    } else if (sized == nullptr || s.st_size > sized->st_size) {
      sized = &s;
    }
  }
};

}  // namespace

std::vector<std::string> elf_function_names(const std::string& path,
                                            std::span<const std::uint64_t> vaddrs) {
  HookGuard guard;  // the profiler's own memory
  std::vector<std::string> names(vaddrs.size());
  if (vaddrs.empty()) return names;
  const MappedFile file(path);
  const unsigned char* base = file.base();
  if (base == nullptr) return names;
  auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
  if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64) {
    return names;
  }
  const Elf64_Shdr* symtab = find_section(base, file.size(), eh, SHT_SYMTAB);
  if (symtab == nullptr) symtab = find_section(base, file.size(), eh, SHT_DYNSYM);
  if (symtab == nullptr || symtab->sh_entsize != sizeof(Elf64_Sym)) return names;
  const auto* sections = reinterpret_cast<const Elf64_Shdr*>(base + eh->e_shoff);
  const Elf64_Shdr& strings = sections[symtab->sh_link];
  if (strings.sh_offset + strings.sh_size > file.size()) return names;
  const char* strtab = reinterpret_cast<const char*>(base + strings.sh_offset);
  const std::size_t strtab_size = strings.sh_size;

  // The addresses in ascending order (as indexes into vaddrs).
  std::vector<std::uint32_t> order(vaddrs.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(),
            [&](std::uint32_t a, std::uint32_t b) { return vaddrs[a] < vaddrs[b]; });
  // first_at[i]: the candidates among symbols whose value v has
  // sorted[i-1] < v <= sorted[i] (i = the first address at or above v).
  // The symbol containing sorted[i] is the best of first_at[0..i], and
  // first_at[i] beats every earlier entry (its values are greater).
  std::vector<Candidates> first_at(order.size());
  const auto* syms = reinterpret_cast<const Elf64_Sym*>(base + symtab->sh_offset);
  const std::size_t n = symtab->sh_size / sizeof(Elf64_Sym);
  for (std::size_t k = 0; k < n; ++k) {
    const Elf64_Sym& s = syms[k];
    const unsigned type = ELF64_ST_TYPE(s.st_info);
    if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s.st_shndx == SHN_UNDEF || s.st_value == 0 ||
        s.st_name >= strtab_size) {
      continue;
    }
    const auto it = std::lower_bound(order.begin(), order.end(), s.st_value,
                                     [&](std::uint32_t i, std::uint64_t v) { return vaddrs[i] < v; });
    if (it != order.end()) first_at[it - order.begin()].offer(s);
  }
  Candidates best;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (!first_at[i].empty()) best = first_at[i];
    if (best.empty()) continue;
    const std::uint64_t vaddr = vaddrs[order[i]];
    const Elf64_Sym* s = best.sized != nullptr && vaddr < best.value + best.sized->st_size
                             ? best.sized
                             : best.unsized;
    if (s == nullptr) continue;  // past the end of a sized function, in no other
    const char* name = strtab + s->st_name;
    names[order[i]].assign(name, strnlen(name, strtab_size - s->st_name));
  }
  return names;
}

}  // namespace syncscope::prof::internal
