#include "prof/loaded_modules.h"

#include <elf.h>
#include <link.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "prof/oom_recovery.h"
#include "prof/thread_state.h"

namespace syncscope::prof::internal {
namespace {

std::string hex(const unsigned char* bytes, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[bytes[i] >> 4]);
    out.push_back(kDigits[bytes[i] & 15]);
  }
  return out;
}

// NT_GNU_BUILD_ID of a loaded object, read from its PT_NOTE segments in memory.
std::string build_id_of(const dl_phdr_info* info) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    auto p = reinterpret_cast<const unsigned char*>(info->dlpi_addr + ph.p_vaddr);
    const unsigned char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      auto* note = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const unsigned char* name = p + sizeof(ElfW(Nhdr));
      const unsigned char* desc = name + ((note->n_namesz + 3) & ~3u);
      if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 &&
          std::memcmp(name, "GNU", 4) == 0 && desc + note->n_descsz <= end) {
        return hex(desc, note->n_descsz);
      }
      p = desc + ((note->n_descsz + 3) & ~3u);
    }
  }
  return "";
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

struct ModuleList {
  std::vector<LoadedModule> modules;
  bool out_of_memory = false;
};

void add_modules_of(dl_phdr_info* info, std::vector<LoadedModule>* out) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_X) == 0) continue;
    LoadedModule m;
    m.start = info->dlpi_addr + ph.p_vaddr;
    m.limit = m.start + ph.p_memsz;
    m.file_offset = ph.p_offset;
    m.load_bias = info->dlpi_addr;
    m.path = info->dlpi_name != nullptr ? info->dlpi_name : "";
    // The loader reports the main executable (first entry) with an empty name.
    if (m.path.empty() && out->empty()) m.path = self_exe();
    m.build_id = build_id_of(info);
    out->push_back(std::move(m));
  }
}

// Never lets an out-of-memory failure leave it: an exception or a jump out
// of a dl_iterate_phdr callback would leave the loader lock held by this
// thread for good (glibc does not unlock on unwind), and every later
// dlopen/dl_iterate_phdr of the process would hang. The recovery point is
// inside the callback, so a failure returns here, still under the lock.
int collect_module(dl_phdr_info* info, std::size_t, void* data) noexcept {
  auto* list = static_cast<ModuleList*>(data);
  if (run_recoverable([&] { add_modules_of(info, &list->modules); })) return 0;
  list->out_of_memory = true;
  return 1;  // stops the iteration
}

// The modules into `*list`; false (and `*list` emptied) when out of memory.
bool collect_modules(std::vector<LoadedModule>* out) {
  HookGuard guard;  // the profiler's own memory, not the program's
  ModuleList list;
  dl_iterate_phdr(collect_module, &list);
  if (list.out_of_memory) return false;  // what was collected is freed with `list`
  out->swap(list.modules);
  return true;
}

}  // namespace

// Out of memory leaves from this frame, where nothing but the empty result
// is live: in the LD_PRELOAD core an exception to an extension's caller
// passes frames that run no destructors (oom_recovery.h).
std::vector<LoadedModule> loaded_modules() {
  std::vector<LoadedModule> modules;
  if (!collect_modules(&modules)) fail_out_of_memory();
  return modules;
}

}  // namespace syncscope::prof::internal
