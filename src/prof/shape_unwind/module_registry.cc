#include "prof/shape_unwind/module_registry.h"

#include <dlfcn.h>
#include <link.h>

#include <optional>
#include <span>

#include "prof/page_alloc.h"

namespace syncscope::prof::internal {
namespace {

// Room for every module's sparse index: 4 bytes per 64 FDEs (cc1plus, with
// 43,000 FDEs, needs 2.7 KiB). Mapped MAP_NORESERVE at the first module.
// Its last kTableReadEntries * 8 bytes (32 KiB) are the buffer modules'
// search tables are read through (describe_module): not on the stack of the
// allocating thread, and only its pages touched become resident.
constexpr std::uint32_t kArenaEntries = 1u << 20;
constexpr std::uint32_t kReadBufferEntries =
    static_cast<std::uint32_t>(kTableReadEntries * sizeof(SearchEntry) / sizeof(std::int32_t));
constexpr std::uint32_t kIndexArenaEntries = kArenaEntries - kReadBufferEntries;
static_assert(kIndexArenaEntries % 2 == 0, "the read buffer is 8-byte aligned");

struct Registry {
  RegisteredModule modules[kMaxModules];
  // Held while one module is described and its slot filled. Only
  // try-locked: nobody waits for it.
  std::atomic<bool> describing{false};
  // kArenaEntries: the indexes, then the read buffer. Guarded by describing.
  std::int32_t* index_arena = nullptr;
  std::uint32_t index_used = 0;         // guarded by describing
  std::atomic<std::uint64_t> ready{0};
  std::atomic<std::uint64_t> refused{0};
};

Registry& registry() noexcept {
  // Constant-initialised (no guard, no destructor run at exit).
  static constinit Registry instance;
  return instance;
}

std::uint32_t home(std::uintptr_t map_start) noexcept {
  return static_cast<std::uint32_t>((map_start * 0x9e3779b97f4a7c15ull) >> 54) & (kMaxModules - 1);
}

// Whether the published module `m` (in `state`) is the one `found` names.
// The loader's range, table address and link_map can all recur when a
// module is unloaded and another of the same size loaded in its place (the
// link_map's memory reused), so a described module's build ID must also
// still be in the image: the range is mapped, since found covers it.
bool same_identity(const RegisteredModule& m, std::uint8_t state, const dl_find_object& found) noexcept {
  if (m.map_start != reinterpret_cast<std::uintptr_t>(found.dlfo_map_start) ||
      m.map_end != reinterpret_cast<std::uintptr_t>(found.dlfo_map_end) ||
      m.eh_frame_hdr != found.dlfo_eh_frame || m.link_map != found.dlfo_link_map) {
    return false;
  }
  // A refused module has no build ID on record; a successor in its place is
  // refused with it (walks through it take the other unwinders).
  return state != RegisteredModule::kReady || same_build_id(m.tables, m.bias);
}

// Fills the empty slot `m` for `found` and publishes it. Under the lock.
void describe_into(Registry& r, RegisteredModule& m, const dl_find_object& found) noexcept {
  const link_map* map = found.dlfo_link_map;
  m.map_start = reinterpret_cast<std::uintptr_t>(found.dlfo_map_start);
  m.map_end = reinterpret_cast<std::uintptr_t>(found.dlfo_map_end);
  m.eh_frame_hdr = found.dlfo_eh_frame;
  m.link_map = map;
  m.bias = map != nullptr ? map->l_addr : 0;
  // The main program's l_name is empty; /proc/self/exe names its file even
  // after it was replaced on disk.
  m.path = map == nullptr ? nullptr : (map->l_name[0] == '\0' ? "/proc/self/exe" : map->l_name);
  bool ok = false;
  if (r.index_arena == nullptr) {
    r.index_arena = static_cast<std::int32_t*>(map_pages(sizeof(std::int32_t) * kArenaEntries));
  }
  if (r.index_arena != nullptr && m.path != nullptr && found.dlfo_eh_frame != nullptr) {
    const std::span<SearchEntry> read_buffer(
        reinterpret_cast<SearchEntry*>(r.index_arena + kIndexArenaEntries), kTableReadEntries);
    std::optional<ModuleTables> tables =
        describe_module(m.path, found.dlfo_map_start, r.index_arena + r.index_used,
                        kIndexArenaEntries - r.index_used, read_buffer);
    // The file's .eh_frame_hdr must be the one the loader found.
    if (tables && tables->hdr_vaddr + m.bias == reinterpret_cast<std::uintptr_t>(found.dlfo_eh_frame)) {
      m.tables = *tables;
      r.index_used += tables->index_count;
      ok = true;
    }
  }
  (ok ? r.ready : r.refused).fetch_add(1, std::memory_order_relaxed);  // relaxed: statistics
  // release: the fields above are visible to whoever sees the state.
  m.state.store(ok ? RegisteredModule::kReady : RegisteredModule::kRefused, std::memory_order_release);
}

// The slot for `found`, probing from its home. With `describe`, an empty
// slot met first is filled for it (the caller holds the lock); without,
// meeting one means the module is not registered yet. Empty when it is not
// there (or the registry is full).
std::optional<FoundModule> probe(Registry& r, const dl_find_object& found, bool describe) noexcept {
  const std::uint32_t start = home(reinterpret_cast<std::uintptr_t>(found.dlfo_map_start));
  for (std::uint32_t i = 0; i < kMaxModules; ++i) {
    const std::uint32_t at = (start + i) & (kMaxModules - 1);
    RegisteredModule& m = r.modules[at];
    // acquire: pairs with describe_into's release; the identity is then complete.
    std::uint8_t state = m.state.load(std::memory_order_acquire);
    if (state == RegisteredModule::kEmpty) {
      if (!describe) return std::nullopt;
      describe_into(r, m, found);
      state = m.state.load(std::memory_order_relaxed);  // this thread's own store
    } else if (!same_identity(m, state, found)) {
      continue;
    }
    return FoundModule{at, state == RegisteredModule::kReady ? &m : nullptr};
  }
  return std::nullopt;
}

}  // namespace

FoundModule find_module(std::uintptr_t pc) noexcept {
  dl_find_object found;
  if (_dl_find_object(reinterpret_cast<void*>(pc), &found) != 0) return {};
  Registry& r = registry();
  if (std::optional<FoundModule> known = probe(r, found, false)) return *known;
  // Describe it under the lock, probing again under it (another thread may
  // have just done so). Never wait for the lock.
  bool expected = false;
  // acquire: the previous holder's writes are visible; relaxed on failure:
  // nothing is read.
  if (!r.describing.compare_exchange_strong(expected, true, std::memory_order_acquire,
                                            std::memory_order_relaxed)) {
    return {};
  }
  const std::optional<FoundModule> result = probe(r, found, true);
  // release: this holder's writes are visible to the next one.
  r.describing.store(false, std::memory_order_release);
  return result.value_or(FoundModule{});
}

ModuleRegistryStats module_registry_stats() noexcept {
  Registry& r = registry();
  return {r.ready.load(std::memory_order_relaxed), r.refused.load(std::memory_order_relaxed)};
}

}  // namespace syncscope::prof::internal
