#include "prof/shape_unwind/shape_walk.h"

#include "prof/shape_unwind/frame_shape.h"
#include "prof/shape_unwind/module_registry.h"
#include "prof/shape_unwind/shape_cache.h"

namespace syncscope::prof::internal {
namespace {

// A frame larger than this is taken for a corrupt walk.
constexpr std::uintptr_t kMaxFrameBytes = std::uintptr_t{256} << 20;
// Runtime code addresses on x86-64 Linux user space are below 2^47; keys
// keep 48 bits of them.
constexpr std::uintptr_t kPcBits = 48;

ShapeCache& shape_cache() noexcept {
  static constinit ShapeCache cache;  // no guard, no exit-time destructor
  return cache;
}

// relaxed: a switch set at start-up; a walk that reads it stale walks (or
// refuses) once more.
std::atomic<bool> g_enabled{true};
std::atomic<std::uint64_t> g_described{0};  // shapes read from files; relaxed: statistics
std::atomic<std::uint64_t> g_refused{0};    // walks refused; relaxed: statistics

// One word of this thread's stack. Outside the sanitizers' view: the walk
// reads other frames' saved registers, which ASan may hold poisoned
// neighbours of.
__attribute__((noinline, no_sanitize("address", "hwaddress", "thread"))) std::uintptr_t
stack_word(std::uintptr_t address) noexcept {
  return *reinterpret_cast<const std::uintptr_t*>(address);
}

// The register state between frames: the frame of `pc` with its rsp and rbp.
struct Registers {
  std::uintptr_t pc;
  std::uintptr_t sp;
  std::uintptr_t bp;
};

// Looks shapes up, describing the ones seen for the first time. Holds the
// file of the last module it read from, closed when the walk ends.
class ShapeFinder {
 public:
  // The packed shape of the frame at runtime address `lookup` (the PC itself
  // for the first frame, return address - 1 for the others), or 0 to refuse.
  std::uint64_t shape_at(std::uintptr_t lookup) noexcept {
    if (lookup >> kPcBits != 0) return 0;
    if (module_ == nullptr || lookup < module_->map_start || lookup >= module_->map_end) {
      const FoundModule found = find_module(lookup);
      if (found.module == nullptr) return 0;
      if (module_ != found.module) {
        file_.close();
        cie_.vaddr = 0;  // link-time addresses of another module
        stride_.stride = UINT32_MAX;
      }
      module_ = found.module;
      slot_ = found.slot;
    }
    const std::uint64_t key = lookup | (std::uint64_t{slot_} + 1) << kPcBits;
    ShapeCache& cache = shape_cache();
    std::uint64_t word = cache.find(key);
    if (word == 0) {
      word = describe(lookup - module_->bias);
      g_described.fetch_add(1, std::memory_order_relaxed);
      if (!cache.insert(key, word)) return 0;  // no room: refuse rather than read files every walk
    }
    return word == kRefusedShape ? 0 : word;
  }

 private:
  // Reads the shape at link-time address `pc` from the current module's file.
  std::uint64_t describe(std::uint64_t pc) noexcept {
    if (!file_.is_open() && !file_.open(module_->path, &module_->tables)) return kRefusedShape;
    const std::optional<std::uint64_t> fde = find_fde(module_->tables, file_, pc, &stride_);
    if (!fde) return kRefusedShape;
    const std::optional<FrameShape> shape = describe_frame(file_, *fde, pc, &cie_);
    return shape ? shape->pack() : kRefusedShape;
  }

  const RegisteredModule* module_ = nullptr;  // the last module looked up
  std::uint32_t slot_ = 0;                     // its registry slot
  ModuleFileSource file_;                      // its file, once a shape had to be read
  CieMemo cie_;                                // the last CIE read from it
  StrideMemo stride_;                          // the last search-table stretch read from it
};

// Steps from `regs` (the frame of walk_frame_shapes at its snapshot) to the
// outermost frame. Inlined into walk_frame_shapes: its frame must stay
// where the snapshot found it.
__attribute__((always_inline)) inline int walk_from(Registers regs, std::uintptr_t* pcs,
                                                    int max_frames) noexcept {
  ShapeFinder finder;
  int n = 0;
  bool first = true;
  while (n < max_frames) {
    const std::uint64_t word = finder.shape_at(first ? regs.pc : regs.pc - 1);
    if (word == 0) return -1;
    const FrameShape shape = FrameShape::unpack(word);
    if (shape.outermost) break;
    const std::uintptr_t cfa = (shape.cfa_from_rbp ? regs.bp : regs.sp) +
                               static_cast<std::uintptr_t>(static_cast<std::intptr_t>(shape.cfa_offset));
    // The caller's frame is above this one, and the saved registers lie
    // between the two stack pointers.
    if (cfa <= regs.sp || cfa - regs.sp > kMaxFrameBytes || (cfa & 7) != 0) return -1;
    const std::uintptr_t return_address = stack_word(cfa - 8);
    if (shape.rbp_saved) {
      const std::uintptr_t slot = cfa + static_cast<std::uintptr_t>(static_cast<std::intptr_t>(shape.rbp_offset));
      if (slot < regs.sp || slot > cfa - 16) return -1;
      regs.bp = stack_word(slot);
    }
    regs.sp = cfa;
    regs.pc = return_address;
    first = false;
    if (return_address == 0) break;
    pcs[n++] = return_address;
  }
  return n;
}

}  // namespace

__attribute__((noinline)) int walk_frame_shapes(std::uintptr_t* pcs, int max_frames) noexcept {
  if (pcs == nullptr || max_frames <= 0) return 0;
  if (!g_enabled.load(std::memory_order_relaxed)) return -1;
  Registers regs;
  // The PC, rsp and rbp at one instruction of this function: its unwind
  // table describes exactly this state.
  asm volatile(
      "leaq 0(%%rip), %0\n\t"
      "movq %%rsp, %1\n\t"
      "movq %%rbp, %2"
      : "=r"(regs.pc), "=r"(regs.sp), "=r"(regs.bp));
  const int n = walk_from(regs, pcs, max_frames);
  if (n < 0) g_refused.fetch_add(1, std::memory_order_relaxed);
  return n;
}

void set_shape_walk_enabled(bool on) noexcept { g_enabled.store(on, std::memory_order_relaxed); }

ShapeWalkStats shape_walk_stats() noexcept {
  const ModuleRegistryStats modules = module_registry_stats();
  return {shape_cache().used(), g_described.load(std::memory_order_relaxed),
          g_refused.load(std::memory_order_relaxed), modules.ready, modules.refused};
}

}  // namespace syncscope::prof::internal
