// Block labels from vtables and code pointers (see block_labels.h).
#include "retain/block_labels.h"

#include <cxxabi.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "retain/naming.h"
#include "syncscope/prof/symbolizer.h"

namespace syncscope::retain::internal {
namespace {

constexpr std::size_t kHintWords = 4;          // words of a block looked at for a code pointer
constexpr std::size_t kMaxTypeName = 1024;     // longest mangled type name read
constexpr std::ptrdiff_t kMaxOffsetToTop = 1 << 20;  // |offset-to-top| of a plausible vtable

const ModuleRange* range_of(const ModuleRange* ranges, std::size_t n, std::uintptr_t addr) noexcept {
  const ModuleRange* it = std::upper_bound(ranges, ranges + n, addr,
                                           [](std::uintptr_t a, const ModuleRange& r) { return a < r.begin; });
  if (it == ranges) return nullptr;
  --it;
  return addr < it->end ? it : nullptr;
}

// Which 2 MiB granules hold any module byte, as an open-addressing set
// small enough for L1 (8 KiB): one probe rejects most words that cannot
// point into a module, which is nearly every word of a heap (small integers;
// heap pointers, whose granules hold no module) and which the binary search
// over the ranges would pay with unpredictable branches at every one of the
// 4 words of every block, inside the pause. Negative answers are exact;
// positives go on to range_of. Disabled (everything may be a module word)
// when the modules span more granules than the set holds.
class ModuleGranules {
 public:
  ModuleGranules(const ModuleRange* ranges, std::size_t n) noexcept {
    std::size_t used = 0;
    for (std::size_t i = 0; i < n && enabled_; ++i) {
      if (ranges[i].end <= ranges[i].begin) continue;
      for (std::uintptr_t g = ranges[i].begin >> kShift; g <= (ranges[i].end - 1) >> kShift; ++g) {
        std::size_t h = hash(g);
        while (slots_[h] != 0 && slots_[h] != g + 1) h = (h + 1) & (kSlots - 1);
        if (slots_[h] == 0 && ++used > kSlots / 2) {
          enabled_ = false;
          break;
        }
        slots_[h] = g + 1;
      }
    }
  }
  // false: no module byte lies in addr's granule.
  bool may_hold(std::uintptr_t addr) const noexcept {
    if (!enabled_) return true;
    const std::uintptr_t g = addr >> kShift;
    for (std::size_t h = hash(g);; h = (h + 1) & (kSlots - 1)) {
      if (slots_[h] == g + 1) return true;
      if (slots_[h] == 0) return false;
    }
  }

 private:
  static constexpr unsigned kShift = 21;
  static constexpr std::size_t kSlots = 1024;  // at most half full: probes stay short and end
  static_assert((kSlots & (kSlots - 1)) == 0, "slots index by mask");
  static std::size_t hash(std::uintptr_t g) noexcept {
    return static_cast<std::size_t>((g * 0x9E3779B97F4A7C15ull) >> 54);  // top 10 bits: [0, kSlots)
  }
  std::uintptr_t slots_[kSlots] = {};  // granule + 1; 0 = empty
  bool enabled_ = true;
};

// Reads this process' memory without faulting: false when unmapped.
bool safe_read(std::uintptr_t addr, void* out, std::size_t len) {
  iovec local{out, len};
  iovec remote{reinterpret_cast<void*>(addr), len};
  return ::process_vm_readv(::getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(len);
}

bool safe_word(std::uintptr_t addr, std::uintptr_t& out) { return safe_read(addr, &out, sizeof out); }

// A NUL-terminated mangled type name: [A-Za-z0-9_$.], read in pieces so the
// end of a mapping does not fail the read of a short name before it.
std::string read_type_name(std::uintptr_t addr) {
  std::string name;
  char chunk[64];
  while (name.size() < kMaxTypeName) {
    const std::size_t to_page_end = 4096 - (addr % 4096);
    const std::size_t n = std::min(sizeof chunk, to_page_end);
    if (!safe_read(addr, chunk, n)) return "";
    for (std::size_t i = 0; i < n; ++i) {
      const char c = chunk[i];
      if (c == '\0') return name;
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                      c == '$' || c == '.';
      if (!ok) return "";
      name += c;
    }
    addr += n;
  }
  return "";
}

std::string demangle_type(const std::string& mangled) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> out(abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status),
                                                   &std::free);
  return status == 0 && out != nullptr ? std::string(out.get()) : "";
}

// The first template argument of "prefix<ARG, ...>" when `type` starts with prefix.
std::string first_template_argument(const std::string& type, std::string_view prefix) {
  if (type.compare(0, prefix.size(), prefix) != 0) return "";
  int depth = 0;
  for (std::size_t i = prefix.size(); i < type.size(); ++i) {
    const char c = type[i];
    if (c == '<' || c == '(') ++depth;
    if (c == '>' || c == ')') {
      if (depth == 0) return type.substr(prefix.size(), i - prefix.size());
      --depth;
    }
    if (c == ',' && depth == 0) return type.substr(prefix.size(), i - prefix.size());
  }
  return "";
}

class LiveSymbols final : public SymbolSource {
 public:
  std::string type_from_vtable(std::uintptr_t vptr) const override { return internal::type_from_vtable(vptr); }
  std::string function_at(std::uintptr_t pc) const override {
    const auto frames = prof::Symbolizer::instance().symbolize(pc);
    return !frames.empty() && frames.back().function != "??" ? frames.back().function : "";
  }
  std::vector<prof::SymbolFrame> symbolize(std::uintptr_t pc) const override {
    return prof::Symbolizer::instance().symbolize(pc);
  }
};

}  // namespace

std::uint32_t label_id(const std::string& name) {
  std::uint32_t h = 2166136261u;  // FNV-1a: stable across snapshots and runs
  for (unsigned char c : name) h = (h ^ c) * 16777619u;
  return h | kLabelBit;
}

const SymbolSource& live_symbol_source() {
  static const LiveSymbols* symbols = new LiveSymbols();  // never freed: used at exit too
  return *symbols;
}

void capture_label_hints(const MemoryImage& image, const GraphBlock* blocks, std::size_t count,
                         const ModuleRange* ranges, std::size_t range_count,
                         MmapBuffer<std::uintptr_t>& hints) noexcept {
  hints.clear();
  if (!hints.reserve(count)) return;
  ImageCursor cursor(image);
  const ModuleGranules granules(ranges, range_count);
  auto module_of = [&](std::uintptr_t w) {
    return granules.may_hold(w) ? range_of(ranges, range_count, w) : nullptr;
  };
  constexpr std::size_t kAhead = 8;  // blocks: their first lines' misses overlap (one per block)
  for (std::size_t i = 0; i < count; ++i) {
    if (i + kAhead < count) cursor.prefetch(blocks[i + kAhead].address);
    const std::size_t n = std::min<std::size_t>(kHintWords, blocks[i].size / sizeof(std::uintptr_t));
    const std::byte* bytes = n > 0 ? cursor.view(blocks[i].address, n * sizeof(std::uintptr_t)) : nullptr;
    std::uintptr_t words[kHintWords] = {};
    if (bytes != nullptr) std::memcpy(words, bytes, n * sizeof(std::uintptr_t));
    std::uintptr_t hint = 0;
    if (bytes != nullptr && module_of(words[0]) != nullptr) hint = words[0];
    for (std::size_t w = 1; bytes != nullptr && hint == 0 && w < n; ++w) {
      const ModuleRange* r = module_of(words[w]);
      if (r != nullptr && r->executable) hint = words[w];
    }
    hints.push_back(hint);
  }
}

std::string type_from_vtable(std::uintptr_t vptr) {
  // vptr[-2]: offset to top; vptr[-1]: &typeinfo; typeinfo[1]: mangled name.
  std::uintptr_t offset_to_top = 0, typeinfo = 0, name = 0;
  if (vptr % alignof(std::uintptr_t) != 0 || !safe_word(vptr - 16, offset_to_top) ||
      !safe_word(vptr - 8, typeinfo) || typeinfo == 0 || !safe_word(typeinfo + 8, name) || name == 0)
    return "";
  const auto top = static_cast<std::ptrdiff_t>(offset_to_top);
  if (top > 0 || top < -kMaxOffsetToTop) return "";
  // GCC marks types with internal linkage (anonymous namespaces) with a
  // leading '*' (compare typeinfos by address): skip it.
  std::uintptr_t first = 0;
  if (safe_read(name, &first, 1) && static_cast<char>(first & 0xff) == '*') ++name;
  const std::string mangled = read_type_name(name);
  return mangled.empty() ? "" : demangle_type(mangled);
}

std::string display_type(const std::string& type) {
  if (std::string t = first_template_argument(type, "std::_Sp_counted_ptr_inplace<"); !t.empty())
    return t + " (make_shared)";
  if (std::string t = first_template_argument(type, "std::_Sp_counted_ptr<"); !t.empty())
    return "shared_ptr control block of " + t;
  if (std::string t = first_template_argument(type, "std::_Sp_counted_deleter<"); !t.empty())
    return "shared_ptr control block of " + t;
  if (std::string t = first_template_argument(type, "std::thread::_State_impl<std::thread::_Invoker<std::tuple<");
      !t.empty())
    return "std::thread state of " + short_function(t);
  return short_function(type);
}

LabelNames label_blocks(GraphBlock* blocks, std::size_t count, const std::uintptr_t* hints,
                        const ModuleRange* ranges, std::size_t range_count, const SymbolSource& symbols,
                        std::vector<std::uint32_t>& types) {
  LabelNames names;
  types.assign(count, 0);
  struct HintLabel {
    std::uint32_t id = 0;
    bool is_type = false;
  };
  std::unordered_map<std::uintptr_t, HintLabel> by_hint;  // hint word -> its label (id 0 = none)
  for (std::size_t i = 0; i < count; ++i) {
    GraphBlock& b = blocks[i];
    HintLabel label;
    if (const std::uintptr_t hint = hints != nullptr ? hints[i] : 0; hint != 0) {
      auto [it, fresh] = by_hint.try_emplace(hint);
      if (fresh) {
        const ModuleRange* r = range_of(ranges, range_count, hint);
        std::string name;
        if (r != nullptr && !r->executable) {
          if (std::string type = symbols.type_from_vtable(hint); !type.empty()) name = display_type(type);
          it->second.is_type = !name.empty();
        } else if (r != nullptr) {
          if (std::string fn = symbols.function_at(hint); !fn.empty()) name = "holds " + short_function(fn);
        }
        if (!name.empty()) {
          it->second.id = label_id(name);
          names.emplace(it->second.id, std::move(name));
        }
      }
      label = it->second;
    }
    if (label.is_type) types[i] = label.id;
    if (b.site != 0) continue;  // a sampled block keeps its allocation site
    if (label.id == 0) {
      std::string name = std::to_string(b.size) + "-byte block";
      label.id = label_id(name);
      names.emplace(label.id, std::move(name));
    }
    b.site = label.id;
  }
  return names;
}

bool type_matches(std::string_view name, std::string_view type) {
  constexpr std::string_view kControlBlock = "shared_ptr control block of ";
  constexpr std::string_view kMakeShared = " (make_shared)";
  if (name.substr(0, kControlBlock.size()) == kControlBlock) name.remove_prefix(kControlBlock.size());
  if (name.size() > kMakeShared.size() && name.substr(name.size() - kMakeShared.size()) == kMakeShared)
    name.remove_suffix(kMakeShared.size());
  if (type.empty() || name.size() < type.size() || name.substr(name.size() - type.size()) != type) return false;
  return name.size() == type.size() || name.substr(0, name.size() - type.size()).ends_with("::");
}

}  // namespace syncscope::retain::internal
