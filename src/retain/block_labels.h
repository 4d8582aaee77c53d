// Names for blocks nobody sampled (most blocks of a heap walk), best first:
//   1. a C++ type, when the block's first word is a vtable pointer: the
//      vtable's typeinfo names the dynamic type (works on stripped binaries
//      with RTTI); make_shared's control block names its T ("Session
//      (make_shared)"), a std::thread state its callable;
//   2. the function a code pointer in the block's first words points to
//      ("holds <function>": std::function managers, callbacks);
//   3. otherwise "<N>-byte block".
// A name becomes a label id in the allocation-site id space (top bit set),
// so retained sizes, top retainers, growth and the retention profile group
// unsampled blocks by type without knowing it. Label ids are hashes of the
// name: the same type has the same id in every snapshot (growth compares ids).
//
// Two phases: capture_label_hints runs while the world is stopped (reads
// block memory through the MemoryImage, no malloc); label_blocks runs after
// resume and asks a SymbolSource for names (live: reads modules' read-only
// data with process_vm_readv, so an unmapped address is an error, never a
// fault; a core: the modules' symbol tables; allocates, demangles).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "retain/memory_image.h"
#include "retain/mmap_buffer.h"
#include "retain/symbol_source.h"
#include "syncscope/retain/object_graph.h"

namespace syncscope::retain::internal {

inline constexpr std::uint32_t kLabelBit = 0x80000000u;
inline bool is_label(std::uint32_t site) { return (site & kLabelBit) != 0; }

// A loaded module's PT_LOAD segment.
struct ModuleRange {
  std::uintptr_t begin = 0;
  std::uintptr_t end = 0;
  bool executable = false;
};

// Label id -> name, for the snapshot's site describer.
using LabelNames = std::unordered_map<std::uint32_t, std::string>;

// While stopped: for each block, the word that may name it: its first word
// when that points into a module (a vtable, a function), else the first of
// its next three words that points into executable code, else 0.
// A block the image cannot show gets hint 0. PRECONDITION: `ranges` sorted by begin.
void capture_label_hints(const MemoryImage& image, const GraphBlock* blocks, std::size_t count, const ModuleRange* ranges,
                         std::size_t range_count, MmapBuffer<std::uintptr_t>& hints) noexcept;

// After resume: gives every block with site 0 a label id, and fills
// `types` ([count]) with each block's type label (0 when its first word is
// no vtable pointer), sampled blocks included; returns the names of both.
LabelNames label_blocks(GraphBlock* blocks, std::size_t count, const std::uintptr_t* hints,
                        const ModuleRange* ranges, std::size_t range_count, const SymbolSource& symbols,
                        std::vector<std::uint32_t>& types);
// The label id of a display name (stable across snapshots, runs and images).
std::uint32_t label_id(const std::string& name);

// Does a block type label's display name denote `type`? "Session" matches
// "app::Session", "app::Session (make_shared)" and "shared_ptr control block
// of app::Session", not "app::SessionManager".
bool type_matches(std::string_view display_name, std::string_view type);

// The C++ type whose vtable `vptr` points into ("" when it is none), and
// the display name used for blocks of that type. Exposed for tests.
std::string type_from_vtable(std::uintptr_t vptr);
std::string display_type(const std::string& demangled_type);

}  // namespace syncscope::retain::internal
