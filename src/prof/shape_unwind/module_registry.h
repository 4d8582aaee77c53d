// The modules the shape walk has met, each described once (module_tables.h)
// and never forgotten: a slot stays with its module's identity for the life
// of the process, so shape keys that name a slot stay meaningful. A module
// unloaded and another loaded in its place get different slots: identity is
// the load range, the .eh_frame_hdr address and the loader's link_map, as
// glibc's _dl_find_object reports them, and the GNU build ID read in place
// (the first three recur when a module of the same size replaces another).
//
// Lookups are lock-free. Describing a module takes a try-lock: a walk that
// finds another thread describing never waits; it refuses instead.
#pragma once

#include <atomic>
#include <cstdint>

#include "prof/shape_unwind/module_tables.h"

namespace syncscope::prof::internal {

inline constexpr std::uint32_t kMaxModules = 1024;  // power of two; keys hold slot + 1 in 15 bits
static_assert(kMaxModules < (1u << 15), "a shape key holds the slot in its top bits");

struct RegisteredModule {
  enum State : std::uint8_t { kEmpty, kReady, kRefused };
  // kEmpty until published; written once, under the registry's lock, after
  // every field below (release), read with acquire.
  std::atomic<std::uint8_t> state{kEmpty};
  // Identity, from _dl_find_object.
  std::uintptr_t map_start = 0;
  std::uintptr_t map_end = 0;
  const void* eh_frame_hdr = nullptr;
  const void* link_map = nullptr;
  std::uintptr_t bias = 0;     // runtime address = link-time address + bias
  const char* path = nullptr;  // the loader's l_name, or /proc/self/exe; valid while loaded
  ModuleTables tables;         // kReady only
};

struct FoundModule {
  std::uint32_t slot = 0;
  const RegisteredModule* module = nullptr;  // nullptr: refused (or no room, or busy)
};

// The module holding runtime address `pc`, described at its first sighting.
// module is nullptr when pc is in no module, the module was refused, the
// registry is full, or another thread holds the describing lock.
FoundModule find_module(std::uintptr_t pc) noexcept;

struct ModuleRegistryStats {
  std::uint64_t ready = 0;
  std::uint64_t refused = 0;
};
ModuleRegistryStats module_registry_stats() noexcept;

}  // namespace syncscope::prof::internal
