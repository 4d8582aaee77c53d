// An ELF core file of an x86-64 Linux process, mapped read-only and parsed:
// its memory segments (PT_LOAD), each thread's registers (NT_PRSTATUS), the
// files that were mapped where (NT_FILE) and the auxiliary vector (NT_AUXV).
//
// Contract: open() validates every header, count and offset against the
// file's size before anything reads through it, and fails with one line
// ("truncated core: ...", "not an x86-64 core: e_machine 183", ...) on bad
// input; after a successful open every span it hands out lies inside the
// mapping. The file is mapped, never read whole: a 10 GiB core costs address
// space, and only the pages the analysis touches become resident.
//
// Implementation notes: the ELF and note headers are parsed here with
// <elf.h>'s types instead of libelf, because the analysis needs zero-copy
// pointers into the mapping and bounds checks at every step; libdwfl reads
// the same mapping for modules and symbols (core_symbols.h).
//
// When not to use: for a live process (LiveMemoryImage reads it in place).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace syncscope::retain::internal {

// One PT_LOAD segment. Bytes [vaddr, vaddr + file_size) are in the file at
// file_offset; [vaddr + file_size, vaddr + mem_size) were not dumped
// (zero pages, or file-backed pages the dumper skipped): not readable.
struct CoreSegment {
  std::uintptr_t vaddr = 0;
  std::uint64_t mem_size = 0;
  std::uint64_t file_offset = 0;
  std::uint64_t file_size = 0;  // <= mem_size (validated)
  bool readable = false;
  bool writable = false;
  bool executable = false;
};

// One thread, from its NT_PRSTATUS note.
struct CoreThread {
  pid_t tid = 0;
  static constexpr int kRegisterCount = 27;  // struct user_regs_struct, x86-64
  std::uintptr_t regs[kRegisterCount] = {};  // in user_regs_struct order
  std::uintptr_t sp() const noexcept { return regs[19]; }       // rsp
  std::uintptr_t pc() const noexcept { return regs[16]; }       // rip
  std::uintptr_t fs_base() const noexcept { return regs[21]; }  // the thread pointer
  static const char* register_name(int index) noexcept;
};

// One NT_FILE entry: [start, end) maps `path` from byte file_offset.
struct CoreMappedFile {
  std::uintptr_t start = 0;
  std::uintptr_t end = 0;
  std::uint64_t file_offset = 0;
  std::string path;
};

class CoreFile {
 public:
  // Maps and parses `path`. Errors (InvalidArgument, one line): not ELF, not
  // a core, not x86-64, truncated, malformed notes; NotFound/PermissionDenied
  // when it cannot be opened.
  static absl::StatusOr<std::unique_ptr<CoreFile>> open(const std::string& path);
  ~CoreFile();
  CoreFile(const CoreFile&) = delete;
  CoreFile& operator=(const CoreFile&) = delete;

  const std::string& path() const noexcept { return path_; }
  // Segments sorted by vaddr, non-overlapping (validated).
  const std::vector<CoreSegment>& segments() const noexcept { return segments_; }
  // Threads in note order: the first is the one that dumped (or crashed).
  const std::vector<CoreThread>& threads() const noexcept { return threads_; }
  const std::vector<CoreMappedFile>& mapped_files() const noexcept { return files_; }
  // The AT_* value, 0 when absent.
  std::uint64_t auxv(std::uint64_t type) const noexcept;
  // The program name from NT_PRPSINFO ("" when absent).
  const std::string& program_name() const noexcept { return program_name_; }
  // The segment's dumped bytes. PRECONDITION: s is one of segments().
  const std::byte* segment_bytes(const CoreSegment& s) const noexcept { return base_ + s.file_offset; }
  // The whole mapping (for libelf's elf_memory).
  const std::byte* data() const noexcept { return base_; }
  std::size_t size() const noexcept { return size_; }

 private:
  CoreFile() = default;
  absl::Status parse();
  absl::Status parse_notes(const std::byte* notes, std::uint64_t size);
  absl::Status parse_file_note(const std::byte* desc, std::uint64_t size);

  std::string path_;
  const std::byte* base_ = nullptr;  // read-only mapping of the whole file; owned
  std::size_t size_ = 0;             // its length in bytes
  std::vector<CoreSegment> segments_;
  std::vector<CoreThread> threads_;
  std::vector<CoreMappedFile> files_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> auxv_;
  std::string program_name_;
};

}  // namespace syncscope::retain::internal
