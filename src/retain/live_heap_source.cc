// Loader-side preparation of the live glibc heap walk.
#include "retain/live_heap_source.h"

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <link.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace syncscope::retain::internal {
namespace {

// Symbols only these allocators define; each replaces malloc when present
// (linked in, or preloaded). Probed by name through the default scope.
struct AllocatorProbe {
  const char* symbol;
  const char* name;
};
constexpr AllocatorProbe kForeignAllocators[] = {
    {"mallctl", "jemalloc"},
    {"je_mallctl", "jemalloc"},
    {"MallocExtension_GetAllocatedSize", "tcmalloc"},
    {"tc_malloc", "tcmalloc"},
    {"mi_malloc", "mimalloc"},
};

// Layout files by glibc release (glibc_layout_*.h): 2.34 introduced the
// random tcache key the walk relies on; up to 2.39 malloc_state, heap_info
// and the tcache are unchanged.
bool have_layout_for(const char* version) {
  unsigned major = 0, minor = 0;
  if (std::sscanf(version, "%u.%u", &major, &minor) != 2) return false;
  return major == 2 && minor >= 34 && minor <= 39;
}

struct SearchState {
  HeapWalkPrep* prep;
  std::uintptr_t malloc_address;
  bool found = false;
};

// Collects the writable PT_LOAD segments of the module that defines
// __libc_malloc (libc.so.6, or the executable when linked statically).
int collect_libc_segments(dl_phdr_info* info, std::size_t, void* data) {
  auto* s = static_cast<SearchState*>(data);
  bool holds_malloc = false;
  for (int i = 0; i < info->dlpi_phnum && !holds_malloc; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    const std::uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
    holds_malloc = ph.p_type == PT_LOAD && s->malloc_address >= begin && s->malloc_address < begin + ph.p_memsz;
  }
  if (!holds_malloc) return 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) == 0) continue;
    const std::uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
    s->prep->libc_data.push_back(Range{begin, begin + ph.p_memsz});
  }
  s->found = true;
  return 1;
}

}  // namespace

std::string foreign_allocator() {
  for (const AllocatorProbe& p : kForeignAllocators) {
    if (::dlsym(RTLD_DEFAULT, p.symbol) != nullptr) return p.name;
  }
  return "";
}

absl::Status prepare_heap_walk(HeapWalkPrep& prep) {
  const std::string other = foreign_allocator();
  if (!other.empty()) {
    return absl::FailedPreconditionError(
        "this process' malloc is " + other +
        ", not glibc's: the heap walk reads glibc's heap only; exact mode still works "
        "(SYNCSCOPE_EXACT=1, or prof::HeapProfiler::set_exact_mode(true) at start)");
  }
  const char* version = ::gnu_get_libc_version();
  if (!have_layout_for(version)) {
    return absl::FailedPreconditionError(std::string("no heap layout for glibc ") + version +
                                         " (known: 2.34-2.39); use exact mode (SYNCSCOPE_EXACT=1)");
  }
  prep.libc_data.clear();
  SearchState state{&prep, reinterpret_cast<std::uintptr_t>(::dlsym(RTLD_DEFAULT, "__libc_malloc"))};
  if (state.malloc_address != 0) dl_iterate_phdr(collect_libc_segments, &state);
  if (!state.found || prep.libc_data.size() == 0) {
    return absl::FailedPreconditionError("cannot find glibc's data segment (is malloc glibc's?)");
  }
  std::sort(prep.libc_data.begin(), prep.libc_data.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  return absl::OkStatus();
}

}  // namespace syncscope::retain::internal
