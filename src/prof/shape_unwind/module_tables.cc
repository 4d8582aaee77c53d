// Describing a module's unwind tables from its file, checked against the
// loaded image. Formats: ELF64 (System V gABI) and .eh_frame_hdr (LSB Core,
// "Exception Frames").
#include "prof/shape_unwind/module_tables.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "prof/shape_unwind/dwarf_bytes.h"

namespace syncscope::prof::internal {
namespace {

// Buffers below live on the stack of whatever thread allocates (the walk
// runs inside malloc), so they are kept to a few KiB in all.
constexpr int kMaxProgramHeaders = 24;      // 1.3 KiB; Debian's binaries have about 13
constexpr std::size_t kMaxNoteBytes = 1024;  // larger note segments are not compared
// .eh_frame_hdr's table encoding GCC's and LLVM's linkers write: pairs of
// 4-byte signed offsets from the header's start (DW_EH_PE_datarel | sdata4).
constexpr std::uint8_t kTableEncoding = 0x3b;

// Records the GNU build ID (an NT_GNU_BUILD_ID note named "GNU") among the
// notes in `notes`, which start at link-time address `vaddr`.
void find_build_id(const std::uint8_t* notes, std::size_t size, std::uint64_t vaddr,
                   ModuleTables& tables) noexcept {
  std::size_t at = 0;
  while (size - at >= sizeof(Elf64_Nhdr)) {
    Elf64_Nhdr header;
    std::memcpy(&header, notes + at, sizeof header);
    const std::size_t name_at = at + sizeof header;
    const std::size_t desc_at = name_at + ((header.n_namesz + 3) & ~std::size_t{3});
    const std::size_t next = desc_at + ((header.n_descsz + 3) & ~std::size_t{3});
    if (next > size || next <= at) return;
    if (header.n_type == NT_GNU_BUILD_ID && header.n_namesz == 4 &&
        std::memcmp(notes + name_at, "GNU", 4) == 0 && header.n_descsz > 0 &&
        header.n_descsz <= kMaxBuildIdBytes) {
      std::memcpy(tables.build_id, notes + desc_at, header.n_descsz);
      tables.build_id_size = header.n_descsz;
      tables.build_id_vaddr = vaddr + desc_at;
      return;
    }
    at = next;
  }
}

}  // namespace

bool same_build_id(const ModuleTables& tables, std::uintptr_t bias) noexcept {
  // memcmp: 33 instructions a call for python3's 20-byte IDs, where a
  // word-by-word loop with a byte tail took 62 (callgrind, three calls a
  // sample).
  const std::uint32_t size = tables.build_id_size;
  if (size == 0) return false;
  return std::memcmp(reinterpret_cast<const void*>(bias + tables.build_id_vaddr), tables.build_id, size) == 0;
}

ModuleFileSource::~ModuleFileSource() { close(); }

bool ModuleFileSource::open(const char* path, const ModuleTables* tables) noexcept {
  close();
  int fd;
  // O_NONBLOCK: should the name now be a FIFO, opening it must not wait for
  // a writer (the walk never blocks the program); a regular file ignores it.
  do {
    fd = ::open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return false;
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      (tables != nullptr && (st.st_dev != tables->device || st.st_ino != tables->inode))) {
    ::close(fd);
    return false;
  }
  device_ = st.st_dev;
  inode_ = st.st_ino;
  fd_ = fd;
  tables_ = tables;
  return true;
}

void ModuleFileSource::close() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool ModuleFileSource::read_at_offset(std::uint64_t offset, void* out, std::size_t n) const noexcept {
  auto* to = static_cast<std::uint8_t*>(out);
  while (n > 0) {
    const ssize_t got = ::pread(fd_, to, n, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;  // an error, or the file is shorter than its headers say
    to += got;
    offset += static_cast<std::uint64_t>(got);
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

bool ModuleFileSource::read(std::uint64_t vaddr, void* out, std::size_t n) const noexcept {
  if (fd_ < 0 || tables_ == nullptr) return false;
  for (int i = 0; i < tables_->segment_count; ++i) {
    const LoadSegment& s = tables_->segments[i];
    if (vaddr >= s.vaddr && vaddr - s.vaddr <= s.file_size && n <= s.file_size - (vaddr - s.vaddr)) {
      return read_at_offset(s.offset + (vaddr - s.vaddr), out, n);
    }
  }
  return false;
}

std::optional<ModuleTables> describe_module(const char* path, const void* image,
                                           std::int32_t* index_memory,
                                           std::uint32_t index_capacity,
                                           std::span<SearchEntry> read_buffer) noexcept {
  ModuleTables tables;
  if (read_buffer.empty() || read_buffer.size() % kIndexStride != 0 || read_buffer.size() > UINT32_MAX) {
    return std::nullopt;
  }
  ModuleFileSource file;
  if (path == nullptr || image == nullptr || !file.open(path, nullptr)) return std::nullopt;
  tables.device = file.device();
  tables.inode = file.inode();

  // The ELF header and program headers must be the image's own.
  Elf64_Ehdr header;
  if (!file.read_at_offset(0, &header, sizeof header) ||
      std::memcmp(&header, image, sizeof header) != 0) {
    return std::nullopt;
  }
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64 ||
      header.e_machine != EM_X86_64 || header.e_phentsize != sizeof(Elf64_Phdr) ||
      header.e_phnum == 0 || header.e_phnum > kMaxProgramHeaders) {
    return std::nullopt;
  }
  Elf64_Phdr phdrs[kMaxProgramHeaders];
  const std::size_t phdr_bytes = header.e_phnum * sizeof(Elf64_Phdr);
  if (!file.read_at_offset(header.e_phoff, phdrs, phdr_bytes)) return std::nullopt;

  // The image starts with the first PT_LOAD, which must map the file from
  // offset 0 and cover the program headers (so they are in the image).
  const Elf64_Phdr* first_load = nullptr;
  const Elf64_Phdr* eh_frame_hdr = nullptr;
  for (int i = 0; i < header.e_phnum; ++i) {
    const Elf64_Phdr& p = phdrs[i];
    if (p.p_type == PT_LOAD) {
      if (first_load == nullptr) first_load = &p;
      if (tables.segment_count == kMaxLoadSegments) return std::nullopt;
      tables.segments[tables.segment_count++] = {p.p_vaddr, p.p_filesz, p.p_offset};
    } else if (p.p_type == PT_GNU_EH_FRAME) {
      eh_frame_hdr = &p;
    }
  }
  if (first_load == nullptr || eh_frame_hdr == nullptr || first_load->p_offset != 0 ||
      header.e_phoff + phdr_bytes > first_load->p_filesz ||
      std::memcmp(phdrs, static_cast<const std::uint8_t*>(image) + header.e_phoff, phdr_bytes) != 0) {
    return std::nullopt;
  }
  // Notes (the GNU build ID among them) in the first segment must match too:
  // a rebuilt file with the same layout differs there.
  const auto image_base = reinterpret_cast<std::uintptr_t>(image) - first_load->p_vaddr;
  for (int i = 0; i < header.e_phnum; ++i) {
    const Elf64_Phdr& p = phdrs[i];
    if (p.p_type != PT_NOTE || p.p_filesz > kMaxNoteBytes) continue;
    if (p.p_offset + p.p_filesz > first_load->p_filesz) continue;
    std::uint8_t note[kMaxNoteBytes];
    if (!file.read_at_offset(p.p_offset, note, p.p_filesz) ||
        std::memcmp(note, reinterpret_cast<const void*>(image_base + p.p_vaddr), p.p_filesz) != 0) {
      return std::nullopt;
    }
    if (tables.build_id_size == 0) find_build_id(note, p.p_filesz, p.p_vaddr, tables);
  }
  if (tables.build_id_size == 0) return std::nullopt;

  file.set_tables(&tables);
  // .eh_frame_hdr: version 1, three encodings, eh_frame_ptr, fde_count, table.
  tables.hdr_vaddr = eh_frame_hdr->p_vaddr;
  std::uint8_t head[4 + 8 + 8];
  const std::size_t head_bytes = std::min<std::uint64_t>(sizeof head, eh_frame_hdr->p_filesz);
  if (!file.read(tables.hdr_vaddr, head, head_bytes)) return std::nullopt;
  DwarfBytes bytes(head, head_bytes, tables.hdr_vaddr);
  const std::uint8_t version = bytes.u8();
  const std::uint8_t eh_frame_ptr_encoding = bytes.u8();
  const std::uint8_t count_encoding = bytes.u8();
  const std::uint8_t table_encoding = bytes.u8();
  bytes.encoded(eh_frame_ptr_encoding, tables.hdr_vaddr);
  const std::uint64_t count = bytes.encoded(count_encoding, tables.hdr_vaddr);
  if (!bytes.ok() || version != 1 || table_encoding != kTableEncoding || count == 0 ||
      count > UINT32_MAX || count_encoding == 0xff) {
    return std::nullopt;
  }
  tables.table_vaddr = bytes.vaddr();
  tables.fde_count = static_cast<std::uint32_t>(count);
  if (count * sizeof(SearchEntry) > eh_frame_hdr->p_filesz) return std::nullopt;

  // The sparse index: every kIndexStride-th start, the table read in
  // stretches of the caller's buffer (whole strides each).
  const std::uint32_t needed = index_entries(tables.fde_count);
  if (index_memory == nullptr || needed > index_capacity) return std::nullopt;
  const auto stretch = static_cast<std::uint32_t>(read_buffer.size());
  std::int32_t previous = INT32_MIN;
  for (std::uint32_t first = 0; first < tables.fde_count; first += stretch) {
    const std::uint32_t n = std::min(stretch, tables.fde_count - first);
    if (!file.read(tables.table_vaddr + std::uint64_t{first} * sizeof(SearchEntry), read_buffer.data(),
                   n * sizeof(SearchEntry))) {
      return std::nullopt;
    }
    for (std::uint32_t i = 0; i < n; i += kIndexStride) {
      if (read_buffer[i].start < previous) return std::nullopt;  // not sorted: not a table we can search
      previous = read_buffer[i].start;
      index_memory[(first + i) / kIndexStride] = read_buffer[i].start;
    }
  }
  tables.index = index_memory;
  tables.index_count = needed;
  return tables;
}

std::optional<std::uint64_t> find_fde(const ModuleTables& tables, const TableSource& source,
                                      std::uint64_t pc, StrideMemo* memo) noexcept {
  const auto relative = static_cast<std::int64_t>(pc - tables.hdr_vaddr);
  if (relative < INT32_MIN || relative > INT32_MAX || tables.index_count == 0) return std::nullopt;
  const auto key = static_cast<std::int32_t>(relative);
  // The last stride whose first start is at or below pc.
  const std::int32_t* end = tables.index + tables.index_count;
  const std::int32_t* after = std::upper_bound(tables.index, end, key);
  if (after == tables.index) return std::nullopt;  // below the first function
  const auto stride = static_cast<std::uint32_t>(after - tables.index - 1);
  const std::uint32_t first = stride * kIndexStride;
  const std::uint32_t n = std::min(kIndexStride, tables.fde_count - first);
  StrideMemo local;
  StrideMemo& held = memo != nullptr ? *memo : local;
  if (held.stride != stride) {
    held.stride = UINT32_MAX;  // nothing valid while the read may fail half-way
    if (!source.read(tables.table_vaddr + std::uint64_t{first} * sizeof(SearchEntry), held.entries,
                     n * sizeof(SearchEntry))) {
      return std::nullopt;
    }
    held.stride = stride;
  }
  const SearchEntry* entries = held.entries;
  const SearchEntry* last = std::upper_bound(entries, entries + n, key,
                                            [](std::int32_t k, const SearchEntry& e) { return k < e.start; });
  if (last == entries) return std::nullopt;
  return tables.hdr_vaddr + static_cast<std::uint64_t>(static_cast<std::int64_t>((last - 1)->fde));
}

}  // namespace syncscope::prof::internal
