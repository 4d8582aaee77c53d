#include "prof/elf_symbols.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <numeric>

#include "prof/thread_state.h"

namespace syncscope::prof::internal {
namespace {

// Bytes of symbol table read per pread: 1,024 symbols. The one buffer is
// reused for the whole table, so a table of any size costs this much memory.
constexpr std::size_t kSymbolChunkBytes = 1024 * sizeof(Elf64_Sym);  // 24 KiB
// First guess at a name's length; a longer one is read again in full.
constexpr std::size_t kNameGuessBytes = 256;

// An open file read with pread; closed on destruction. Reading copies from
// the page cache, so none of the file's pages become part of this process's
// resident set (a mapping of the file would leave every page it touched, and
// fault-around's neighbours, resident until unmapped).
class FileReader {
 public:
  explicit FileReader(const std::string& path) : fd_(open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~FileReader() {
    if (fd_ >= 0) close(fd_);
  }
  FileReader(const FileReader&) = delete;
  FileReader& operator=(const FileReader&) = delete;
  bool ok() const { return fd_ >= 0; }
  // The file's size in bytes; 0 when unknown.
  std::uint64_t size() const {
    struct stat st {};
    return fstat(fd_, &st) == 0 && st.st_size > 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
  }
  // Reads exactly `size` bytes at `offset`; false on error or end of file.
  bool read_exact(void* out, std::size_t size, std::uint64_t offset) const {
    auto* p = static_cast<unsigned char*>(out);
    while (size > 0) {
      const ssize_t got = pread(fd_, p, size, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return false;
      p += got;
      size -= static_cast<std::size_t>(got);
      offset += static_cast<std::uint64_t>(got);
    }
    return true;
  }
  // Reads up to `size` bytes at `offset`; the count read, 0 on error.
  std::size_t read_some(void* out, std::size_t size, std::uint64_t offset) const {
    for (;;) {
      const ssize_t got = pread(fd_, out, size, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      return got < 0 ? 0 : static_cast<std::size_t>(got);
    }
  }

 private:
  int fd_;  // -1 when the file could not be opened
};

// The section of `type`, within the file's bounds and with a valid link, or
// nullptr.
const Elf64_Shdr* find_section(const std::vector<Elf64_Shdr>& sections, std::uint64_t file_size,
                               std::uint32_t type) {
  for (const Elf64_Shdr& sh : sections) {
    if (sh.sh_type == type && sh.sh_offset <= file_size && sh.sh_size <= file_size - sh.sh_offset &&
        sh.sh_link < sections.size()) {
      return &sh;
    }
  }
  return nullptr;
}

// The parts of a symbol the lookup keeps.
struct SymbolRef {
  std::uint32_t name = 0;  // offset in the string table
  std::uint64_t size = 0;
};

// The best candidates seen so far for one address: among symbols at the
// greatest value not above it, the largest sized one and an unsized one.
struct Candidates {
  std::uint64_t value = 0;
  bool has_sized = false;
  bool has_unsized = false;
  SymbolRef sized;    // largest st_size at `value` (when has_sized)
  SymbolRef unsized;  // st_size 0 at `value` (when has_unsized)
  bool empty() const { return !has_sized && !has_unsized; }
  void offer(const Elf64_Sym& s) {
    if (!empty() && s.st_value < value) return;
    if (empty() || s.st_value > value) *this = Candidates{.value = s.st_value};
    if (s.st_size == 0) {
      if (!has_unsized) unsized = {s.st_name, 0}, has_unsized = true;
    } else if (!has_sized || s.st_size > sized.size) {
      sized = {s.st_name, s.st_size}, has_sized = true;
    }
  }
};

// The NUL-terminated string at `offset` of the string table
// [table_offset, table_offset + table_size) of `file`; "" when unreadable.
std::string read_name(const FileReader& file, std::uint64_t table_offset, std::uint64_t table_size,
                      std::uint32_t offset) {
  std::string name;
  std::size_t want = kNameGuessBytes;
  for (;;) {
    const std::uint64_t left = table_size - offset;
    const std::size_t size = static_cast<std::size_t>(std::min<std::uint64_t>(want, left));
    name.resize(size);
    const std::size_t got = file.read_some(name.data(), size, table_offset + offset);
    const std::size_t len = strnlen(name.data(), got);
    if (len < got || got < size || size == left) {
      name.resize(len);
      return name;
    }
    want *= 4;  // no NUL yet: a long (mangled) name
  }
}

// The index of the first of `sorted` (ascending, non-empty, its last
// element >= v) that is >= v: a binary search without data-dependent
// branches (conditional moves), about 4 instructions per halving.
std::size_t first_at_or_above(const std::vector<std::uint64_t>& sorted, std::uint64_t v) {
  const std::uint64_t* base = sorted.data();
  std::size_t len = sorted.size();
  while (len > 1) {
    const std::size_t half = len / 2;
    base = base[half - 1] < v ? base + half : base;
    len -= half;
  }
  return static_cast<std::size_t>(base - sorted.data());
}

}  // namespace

std::vector<std::string> elf_function_names(const std::string& path,
                                            std::span<const std::uint64_t> vaddrs) {
  HookGuard guard;  // the profiler's own memory
  std::vector<std::string> names(vaddrs.size());
  if (vaddrs.empty()) return names;
  const FileReader file(path);
  if (!file.ok()) return names;
  Elf64_Ehdr eh{};
  if (!file.read_exact(&eh, sizeof eh, 0) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shoff == 0 || eh.e_shentsize != sizeof(Elf64_Shdr)) {
    return names;
  }
  std::vector<Elf64_Shdr> sections(eh.e_shnum);
  if (!file.read_exact(sections.data(), sections.size() * sizeof(Elf64_Shdr), eh.e_shoff)) return names;
  const std::uint64_t file_size = file.size();
  const Elf64_Shdr* symtab = find_section(sections, file_size, SHT_SYMTAB);
  if (symtab == nullptr) symtab = find_section(sections, file_size, SHT_DYNSYM);
  if (symtab == nullptr || symtab->sh_entsize != sizeof(Elf64_Sym)) return names;
  const Elf64_Shdr& strings = sections[symtab->sh_link];
  if (strings.sh_offset > file_size || strings.sh_size > file_size - strings.sh_offset) return names;
  const std::uint64_t strtab_size = strings.sh_size;

  // The addresses in ascending order (as indexes into vaddrs), and their
  // values in that order: the per-symbol search below runs over one
  // contiguous array (the dump of a large stripped binary checks about
  // 100,000 .dynsym symbols against a few hundred pcs).
  std::vector<std::uint32_t> order(vaddrs.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(),
            [&](std::uint32_t a, std::uint32_t b) { return vaddrs[a] < vaddrs[b]; });
  std::vector<std::uint64_t> sorted(order.size());
  for (std::size_t i = 0; i < order.size(); ++i) sorted[i] = vaddrs[order[i]];
  const std::uint64_t highest = sorted.back();
  // first_at[i]: the candidates among symbols whose value v has
  // sorted[i-1] < v <= sorted[i] (i = the first address at or above v).
  // The symbol containing sorted[i] is the best of first_at[0..i], and
  // first_at[i] beats every earlier entry (its values are greater).
  std::vector<Candidates> first_at(order.size());
  std::vector<Elf64_Sym> chunk(kSymbolChunkBytes / sizeof(Elf64_Sym));
  const std::uint64_t n = symtab->sh_size / sizeof(Elf64_Sym);
  for (std::uint64_t first = 0; first < n; first += chunk.size()) {
    const std::size_t count = static_cast<std::size_t>(std::min<std::uint64_t>(chunk.size(), n - first));
    if (!file.read_exact(chunk.data(), count * sizeof(Elf64_Sym),
                         symtab->sh_offset + first * sizeof(Elf64_Sym))) {
      return names;
    }
    for (std::size_t k = 0; k < count; ++k) {
      const Elf64_Sym& s = chunk[k];
      const unsigned type = ELF64_ST_TYPE(s.st_info);
      // (Above every address: the candidate of none.)
      if ((type != STT_FUNC && type != STT_GNU_IFUNC) || s.st_shndx == SHN_UNDEF || s.st_value == 0 ||
          s.st_value > highest || s.st_name >= strtab_size) {
        continue;
      }
      first_at[first_at_or_above(sorted, s.st_value)].offer(s);
    }
  }
  // One read per distinct name (neighbouring pcs share a function).
  Candidates best;
  std::uint32_t last_name = 0;
  const std::string* last = nullptr;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (!first_at[i].empty()) best = first_at[i];
    if (best.empty()) continue;
    const std::uint64_t vaddr = vaddrs[order[i]];
    const SymbolRef* s = best.has_sized && vaddr < best.value + best.sized.size ? &best.sized
                         : best.has_unsized                                      ? &best.unsized
                                                                                 : nullptr;
    if (s == nullptr) continue;  // past the end of a sized function, in no other
    std::string& name = names[order[i]];
    if (last != nullptr && s->name == last_name) {
      name = *last;
    } else {
      name = read_name(file, strings.sh_offset, strtab_size, s->name);
    }
    last_name = s->name;
    last = &name;
  }
  return names;
}

}  // namespace syncscope::prof::internal
