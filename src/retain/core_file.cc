// ELF core parsing (see core_file.h). Every read is checked against size_
// first; overflow is checked before every addition of file-controlled values.
#include "retain/core_file.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/status/status.h"

namespace syncscope::retain::internal {
namespace {

// Layout facts of the x86-64 Linux core notes this parser reads.
static_assert(sizeof(elf_prstatus) == 336, "x86-64 struct elf_prstatus");
static_assert(offsetof(elf_prstatus, pr_pid) == 32, "x86-64 struct elf_prstatus");
static_assert(offsetof(elf_prstatus, pr_reg) == 112, "x86-64 struct elf_prstatus");
static_assert(sizeof(elf_gregset_t) == CoreThread::kRegisterCount * 8, "x86-64 user_regs_struct");
static_assert(offsetof(elf_prpsinfo, pr_fname) == 40, "x86-64 struct elf_prpsinfo");

constexpr std::uint32_t kNtFile = 0x46494c45;  // "FILE"
constexpr std::uint64_t kMaxNoteEntries = 1u << 24;  // far above any real process

absl::Status invalid(const std::string& what) { return absl::InvalidArgumentError(what); }

// a + b <= limit, without overflow.
bool fits(std::uint64_t a, std::uint64_t b, std::uint64_t limit) { return a <= limit && b <= limit - a; }

template <class T>
T load(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

std::uint64_t align4(std::uint64_t v) { return (v + 3) & ~std::uint64_t{3}; }

}  // namespace

const char* CoreThread::register_name(int index) noexcept {
  static const char* const kNames[kRegisterCount] = {
      "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10",     "r9",      "r8", "rax", "rcx", "rdx", "rsi",
      "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base", "ds", "es",  "fs",  "gs"};
  return index >= 0 && index < kRegisterCount ? kNames[index] : "?";
}

absl::StatusOr<std::unique_ptr<CoreFile>> CoreFile::open(const std::string& path) {
  std::unique_ptr<CoreFile> core(new CoreFile());
  core->path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string msg = "cannot open core " + path + ": " + std::strerror(err);
    return err == ENOENT ? absl::NotFoundError(msg) : absl::PermissionDeniedError(msg);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return invalid(path + " is not a regular file");
  }
  core->size_ = static_cast<std::size_t>(st.st_size);
  if (core->size_ < sizeof(Elf64_Ehdr)) {
    ::close(fd);
    return invalid(path + " is not an ELF file (" + std::to_string(core->size_) + " bytes)");
  }
  void* p = ::mmap(nullptr, core->size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) return absl::ResourceExhaustedError("cannot map core " + path + ": " + std::strerror(errno));
  core->base_ = static_cast<const std::byte*>(p);
  if (absl::Status s = core->parse(); !s.ok()) return absl::Status(s.code(), path + ": " + std::string(s.message()));
  return core;
}

CoreFile::~CoreFile() {
  if (base_ != nullptr) ::munmap(const_cast<std::byte*>(base_), size_);
}

std::uint64_t CoreFile::auxv(std::uint64_t type) const noexcept {
  for (const auto& [t, v] : auxv_) {
    if (t == type) return v;
  }
  return 0;
}

absl::Status CoreFile::parse() {
  const auto eh = load<Elf64_Ehdr>(base_);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return invalid("not an ELF file");
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
    return invalid("not a 64-bit little-endian ELF file");
  if (eh.e_type != ET_CORE) return invalid("an ELF file but not a core (e_type " + std::to_string(eh.e_type) + ")");
  if (eh.e_machine != EM_X86_64)
    return invalid("not an x86-64 core (e_machine " + std::to_string(eh.e_machine) + "); only x86-64 is supported");
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum == PN_XNUM)
    return invalid("malformed program header table");
  if (!fits(eh.e_phoff, std::uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr), size_))
    return invalid("truncated core: program headers end past the file's " + std::to_string(size_) + " bytes");
  bool have_notes = false;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    const auto ph = load<Elf64_Phdr>(base_ + eh.e_phoff + i * sizeof(Elf64_Phdr));
    if (ph.p_type == PT_NOTE) {
      if (!fits(ph.p_offset, ph.p_filesz, size_)) return invalid("truncated core: the note segment is cut off");
      if (absl::Status s = parse_notes(base_ + ph.p_offset, ph.p_filesz); !s.ok()) return s;
      have_notes = true;
    }
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    if (ph.p_filesz > ph.p_memsz || !fits(ph.p_vaddr, ph.p_memsz, ~std::uint64_t{0}))
      return invalid("malformed PT_LOAD #" + std::to_string(i));
    if (!fits(ph.p_offset, ph.p_filesz, size_)) {
      return invalid("truncated core: segment at 0x" + [&] {
        char b[32];
        std::snprintf(b, sizeof b, "%lx", static_cast<unsigned long>(ph.p_vaddr));
        return std::string(b);
      }() + " ends past the file's " + std::to_string(size_) + " bytes");
    }
    segments_.push_back(CoreSegment{ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz, (ph.p_flags & PF_R) != 0,
                                    (ph.p_flags & PF_W) != 0, (ph.p_flags & PF_X) != 0});
  }
  if (!have_notes) return invalid("no PT_NOTE segment (no threads, no mapped files)");
  if (threads_.empty()) return invalid("no NT_PRSTATUS note: no thread registers");
  std::sort(segments_.begin(), segments_.end(),
            [](const CoreSegment& a, const CoreSegment& b) { return a.vaddr < b.vaddr; });
  for (std::size_t i = 1; i < segments_.size(); ++i) {
    if (segments_[i - 1].vaddr + segments_[i - 1].mem_size > segments_[i].vaddr)
      return invalid("overlapping PT_LOAD segments");
  }
  return absl::OkStatus();
}

absl::Status CoreFile::parse_notes(const std::byte* notes, std::uint64_t size) {
  std::uint64_t pos = 0;
  while (pos < size) {
    if (!fits(pos, sizeof(Elf64_Nhdr), size)) return invalid("truncated note header");
    const auto nh = load<Elf64_Nhdr>(notes + pos);
    const std::uint64_t name_at = pos + sizeof(Elf64_Nhdr);
    if (!fits(name_at, align4(nh.n_namesz), size)) return invalid("truncated note name");
    const std::uint64_t desc_at = name_at + align4(nh.n_namesz);
    if (!fits(desc_at, align4(nh.n_descsz), size) && !fits(desc_at, nh.n_descsz, size))
      return invalid("truncated note (type " + std::to_string(nh.n_type) + ")");
    const std::byte* desc = notes + desc_at;
    const bool core_name = nh.n_namesz == 5 && std::memcmp(notes + name_at, "CORE", 5) == 0;
    if (core_name && nh.n_type == NT_PRSTATUS) {
      if (nh.n_descsz < sizeof(elf_prstatus)) return invalid("short NT_PRSTATUS note");
      CoreThread t;
      t.tid = load<pid_t>(desc + offsetof(elf_prstatus, pr_pid));
      std::memcpy(t.regs, desc + offsetof(elf_prstatus, pr_reg), sizeof t.regs);
      threads_.push_back(t);
    } else if (core_name && nh.n_type == NT_PRPSINFO && nh.n_descsz >= sizeof(elf_prpsinfo)) {
      const char* fname = reinterpret_cast<const char*>(desc + offsetof(elf_prpsinfo, pr_fname));
      program_name_.assign(fname, strnlen(fname, sizeof(elf_prpsinfo::pr_fname)));
    } else if (core_name && nh.n_type == NT_AUXV) {
      if (nh.n_descsz % 16 != 0) return invalid("malformed NT_AUXV note");
      for (std::uint64_t i = 0; i < nh.n_descsz; i += 16) {
        auxv_.emplace_back(load<std::uint64_t>(desc + i), load<std::uint64_t>(desc + i + 8));
      }
    } else if (core_name && nh.n_type == kNtFile) {
      if (absl::Status s = parse_file_note(desc, nh.n_descsz); !s.ok()) return s;
    }
    pos = desc_at + align4(nh.n_descsz);
  }
  return absl::OkStatus();
}

// NT_FILE: count, page size, count x (start, end, page offset), then count
// NUL-terminated paths (the kernel's fill_files_note layout).
absl::Status CoreFile::parse_file_note(const std::byte* desc, std::uint64_t size) {
  if (size < 16) return invalid("short NT_FILE note");
  const auto count = load<std::uint64_t>(desc);
  const auto page = load<std::uint64_t>(desc + 8);
  if (count > kMaxNoteEntries || page == 0 || page > (1u << 30) || 16 + count * 24 > size)
    return invalid("malformed NT_FILE note");
  const char* names = reinterpret_cast<const char*>(desc + 16 + count * 24);
  const char* const names_end = reinterpret_cast<const char*>(desc + size);
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::byte* e = desc + 16 + i * 24;
    CoreMappedFile f;
    f.start = load<std::uint64_t>(e);
    f.end = load<std::uint64_t>(e + 8);
    const auto pages = load<std::uint64_t>(e + 16);
    if (f.end < f.start || pages > ~std::uint64_t{0} / page) return invalid("malformed NT_FILE entry");
    f.file_offset = pages * page;
    const char* nul = static_cast<const char*>(std::memchr(names, '\0', static_cast<std::size_t>(names_end - names)));
    if (nul == nullptr) return invalid("truncated NT_FILE path list");
    f.path.assign(names, nul);
    names = nul + 1;
    files_.push_back(std::move(f));
  }
  return absl::OkStatus();
}

}  // namespace syncscope::retain::internal
