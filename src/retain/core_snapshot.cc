// snapshot_core: a core file through the live snapshot's walk, scan, labels
// and analysis (see core_snapshot.h).
#include "retain/core_snapshot.h"

#include <elf.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <unordered_map>

#include "retain/block_labels.h"
#include "retain/core_memory_image.h"
#include "retain/core_sampled_sites.h"
#include "retain/heap_scanner.h"
#include "retain/naming.h"
#include "retain/proc_maps.h"
#include "retain/snapshot_impl.h"

namespace syncscope::retain::internal {
namespace {

constexpr std::uintptr_t kRedZone = 128;      // x86-64 ABI: leaf data below sp
constexpr std::uintptr_t kTcbBytes = 4096;    // struct pthread and friends above tp (glibc)
constexpr std::uintptr_t kTlsSurplus = 2048;  // glibc static TLS surplus below tp

// A module's segments as its program headers, read from the core's copy of
// its first page (dumped for every ELF mapping), describe them.
struct ModuleSegments {
  std::vector<RawRoot> writable;     // global roots
  std::vector<ModuleRange> ranges;   // every PT_LOAD (what block labels point into)
  std::uint64_t tls_bytes = 0;
};

void read_module_segments(const MemoryImage& image, const CoreModule& m, std::size_t module_index,
                          ModuleSegments& out) {
  const std::byte* eh_bytes = image.view(m.start, sizeof(Elf64_Ehdr));
  if (eh_bytes == nullptr) return;
  Elf64_Ehdr eh;
  std::memcpy(&eh, eh_bytes, sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 256)
    return;
  const std::byte* ph_bytes = image.view(m.start + eh.e_phoff, std::size_t{eh.e_phnum} * sizeof(Elf64_Phdr));
  if (ph_bytes == nullptr) return;
  std::vector<Elf64_Phdr> phdrs(eh.e_phnum);
  std::memcpy(phdrs.data(), ph_bytes, phdrs.size() * sizeof(Elf64_Phdr));
  std::uintptr_t bias = 0;
  for (const Elf64_Phdr& ph : phdrs) {
    if (ph.p_type == PT_LOAD) {
      bias = m.start - (ph.p_vaddr & ~std::uintptr_t{4095});
      break;
    }
  }
  for (const Elf64_Phdr& ph : phdrs) {
    if (ph.p_type == PT_TLS) out.tls_bytes += ph.p_memsz + ph.p_align;
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    const std::uintptr_t begin = bias + ph.p_vaddr;
    out.ranges.push_back(ModuleRange{begin, begin + ph.p_memsz, (ph.p_flags & PF_X) != 0});
    if ((ph.p_flags & PF_W) == 0) continue;
    RawRoot r;
    r.kind = RootKind::kGlobal;
    r.begin = begin;
    r.size = ph.p_memsz;
    r.module_base = module_index;  // index into CoreSymbols::modules() (not a load bias here)
    out.writable.push_back(r);
  }
}

std::uint64_t ns_since(std::chrono::steady_clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t).count());
}

// Where the walk looks for main_arena: libc's writable segments (the
// program's own when no libc is loaded: static glibc).
std::vector<Range> arena_search_ranges(const CoreSymbols& symbols, const std::vector<ModuleSegments>& segs) {
  std::vector<Range> out;
  const auto& modules = symbols.modules();
  for (int pass = 0; pass < 2 && out.empty(); ++pass) {
    for (std::size_t i = 0; i < modules.size(); ++i) {
      const bool pick = pass == 0 ? modules[i].name.find("/libc.so") != std::string::npos ||
                                        modules[i].name.find("/libc-") != std::string::npos
                                  : modules[i].main_executable;
      if (!pick) continue;
      for (const RawRoot& r : segs[i].writable) out.push_back(Range{r.begin, r.begin + r.size});
    }
  }
  std::sort(out.begin(), out.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
  return out;
}

struct Scan {
  MmapBuffer<GraphBlock> blocks;
  std::optional<BlockIndex> index{std::in_place};  // reset once the scan is done
  MmapBuffer<RawRoot> roots;
  ScanOutput out;
  MmapBuffer<std::uintptr_t> label_hints;
  std::vector<std::size_t> root_module;  // [roots] module index of a global root
  CoreSampledSites sites;                 // the heap profiler's samples, when the program ran it
  std::unordered_map<std::uint32_t, SiteDescription> site_names;  // site id of a sampled block -> its site
};

// Blocks the heap profiler sampled get their allocation site, as
// name_sampled_blocks does live; a sample must fit in its block. The site id
// is a hash of the symbolized site (top bit clear: an allocation site, not a
// label), not the process' stack id, so the same site has the same id in
// cores of two runs and `diff` compares them.
void name_sampled_blocks(MmapBuffer<GraphBlock>& blocks, const CoreSampledSites& sites, const CoreSymbols& syms,
                         std::unordered_map<std::uint32_t, SiteDescription>& names, CoreSnapshot& result) {
  std::unordered_map<std::uint32_t, std::uint32_t> stable;  // stack id -> site id
  for (const auto& [stack, pcs] : sites.stacks) {
    SiteDescription d = describe_pcs(pcs, syms);
    std::string key = d.name;
    for (const std::string& f : d.frames) key += "\n" + f;
    std::uint32_t id = label_id(key) & ~kLabelBit;
    if (id == 0) id = 1;
    stable[stack] = id;
    names.emplace(id, std::move(d));
  }
  for (const CoreSampledBlock& sb : sites.blocks) {
    GraphBlock* b = std::lower_bound(blocks.begin(), blocks.end(), sb.address,
                                     [](const GraphBlock& g, std::uintptr_t a) { return g.address < a; });
    if (b != blocks.end() && b->address == sb.address && sb.size <= b->size && stable.count(sb.stack) != 0) {
      b->site = stable[sb.stack];
      ++result.sampled_blocks;
    }
  }
}

void add_thread_roots(const CoreMemoryImage& image, const CoreThread& t, std::int32_t index,
                      std::uint64_t tls_bytes, Scan& s) {
  const auto add = [&](const RawRoot& r) {
    add_root_pieces(r, image.maps(), s.blocks.data(), s.blocks.size(), nullptr, 0, s.roots);
  };
  const Mapping* stack = image.region_of(t.sp());
  if (stack != nullptr) {
    const std::uintptr_t begin = t.sp() - kRedZone > stack->start ? t.sp() - kRedZone : stack->start;
    add(RawRoot{RootKind::kStack, begin, stack->end - begin, index, nullptr});
  }
  RawRoot regs{RootKind::kRegister, 0, sizeof t.regs, index, nullptr};
  regs.local = reinterpret_cast<const std::byte*>(t.regs);
  s.roots.push_back(regs);
  const std::uintptr_t tp = t.fs_base();
  const bool tls_in_stack = stack != nullptr && tp >= stack->start && tp < stack->end;
  const Mapping* m = tp != 0 && !tls_in_stack ? image.region_of(tp) : nullptr;
  if (m != nullptr) {
    const std::uintptr_t below = tls_bytes + kTlsSurplus;
    const std::uintptr_t begin = tp - m->start > below ? tp - below : m->start;
    const std::uintptr_t end = m->end - tp > kTcbBytes ? tp + kTcbBytes : m->end;
    add(RawRoot{RootKind::kTls, begin, end - begin, index, nullptr});
  }
}

RootNamer make_root_namer(const ObjectGraph* graph, const CoreFile* core, const CoreSymbols* symbols,
                          std::vector<std::size_t> root_module) {
  // Each thread's frames, unwound once (libdwfl, the modules' CFI).
  auto frames = std::make_shared<std::vector<std::vector<CoreFrame>>>();
  for (const CoreThread& t : core->threads()) frames->push_back(symbols->frames(t.tid));
  return [graph, core, symbols, frames, root_module = std::move(root_module)](std::size_t r, std::uint64_t off) {
    const Root& root = graph->root(r);
    RootDetail d;
    if (root.kind == RootKind::kGlobal) {
      const CoreModule& m = symbols->modules()[root_module[r]];
      d.module = m.main_executable ? "main executable" : basename_of(m.name);
      d.symbol = symbols->data_symbol(root.begin + off);
      return d;
    }
    if (root.thread < 0) return d;
    const CoreThread& t = core->threads()[static_cast<std::size_t>(root.thread)];
    d.thread_id = t.tid;
    d.thread_name = root.thread == 0 ? core->program_name() : "#" + std::to_string(root.thread);
    if (root.kind == RootKind::kStack)
      d.frame = short_function(symbols->frame_function((*frames)[static_cast<std::size_t>(root.thread)], root.begin + off));
    if (root.kind == RootKind::kRegister) d.register_name = CoreThread::register_name(static_cast<int>(off / 8));
    return d;
  };
}

// RssAnon of this process in bytes (0 when unknown).
std::uint64_t rss_anon_bytes() {
  std::ifstream in("/proc/self/status");
  std::string key;
  std::uint64_t kib = 0;
  while (in >> key) {
    if (key == "RssAnon:") {
      in >> kib;
      return kib * 1024;
    }
    in.ignore(1 << 10, '\n');
  }
  return 0;
}

template <class T>
std::vector<T> to_vector(const MmapBuffer<T>& b) {
  return std::vector<T>(b.begin(), b.end());
}

}  // namespace

namespace {

// What the modules contribute: global roots, the ranges block labels point
// into, the static TLS size, and where main_arena is.
struct CoreModules {
  std::vector<ModuleSegments> segments;  // [module]
  std::vector<ModuleRange> ranges;       // sorted by begin
  std::uint64_t tls_bytes = 0;
  std::vector<Range> arena_search;
};

CoreModules collect_modules(const CoreMemoryImage& image, const CoreSymbols& syms) {
  CoreModules m;
  m.segments.resize(syms.modules().size());
  for (std::size_t i = 0; i < m.segments.size(); ++i) {
    read_module_segments(image, syms.modules()[i], i, m.segments[i]);
    m.tls_bytes += m.segments[i].tls_bytes;
    m.ranges.insert(m.ranges.end(), m.segments[i].ranges.begin(), m.segments[i].ranges.end());
  }
  std::sort(m.ranges.begin(), m.ranges.end(),
            [](const ModuleRange& a, const ModuleRange& b) { return a.begin < b.begin; });
  m.arena_search = arena_search_ranges(syms, m.segments);
  return m;
}

// The walk, the roots and the scan: the live path's code over the core.
absl::Status walk_and_scan(const CoreMemoryImage& image, const CoreFile& cf, const CoreModules& modules, Scan& s,
                           CoreSnapshot& result) {
  s.sites = read_sampled_sites(image, *result.symbols);
  result.sampled_note = s.sites.note;
  const auto walk_start = std::chrono::steady_clock::now();
  GlibcHeapWalker walker;
  const HeapWalkResult walk = walker.walk(image, modules.arena_search, {}, s.blocks);
  result.walk_ns = ns_since(walk_start);
  if (walk.status != WalkStatus::kOk) return absl::InternalError(walk.message);
  result.walk = walk.stats;
  name_sampled_blocks(s.blocks, s.sites, *result.symbols, s.site_names, result);
  const auto scan_start = std::chrono::steady_clock::now();
  if (!s.index->build(s.blocks.data(), s.blocks.size())) return absl::ResourceExhaustedError("out of scanner memory");
  for (std::size_t t = 0; t < cf.threads().size(); ++t) {
    add_thread_roots(image, cf.threads()[t], static_cast<std::int32_t>(t), modules.tls_bytes, s);
  }
  s.root_module.assign(s.roots.size(), 0);
  for (std::size_t i = 0; i < modules.segments.size(); ++i) {
    for (const RawRoot& r : modules.segments[i].writable) {
      add_root_pieces(r, image.maps(), s.blocks.data(), s.blocks.size(), nullptr, 0, s.roots);
      s.root_module.resize(s.roots.size(), i);
    }
  }
  scan_all(image, s.roots.data(), s.roots.size(), s.blocks.data(), s.blocks.size(), *s.index, s.out);
  capture_label_hints(image, s.blocks.data(), s.blocks.size(), modules.ranges.data(), modules.ranges.size(),
                      s.label_hints);
  result.scan_ns = ns_since(scan_start);
  result.memory_bytes = s.blocks.mapped_bytes() + s.index->memory_bytes() + s.roots.mapped_bytes() +
                        s.out.root_edges.mapped_bytes() + s.out.block_edges.mapped_bytes() +
                        s.out.block_begin.mapped_bytes() + s.label_hints.mapped_bytes();
  result.anon_peak_bytes = rss_anon_bytes();
  return absl::OkStatus();
}

// Labels, then the graph. The graph takes copies: each scan buffer is
// unmapped as soon as it is copied, so the peak is one buffer above the
// larger of scan and graph. `scan` is released.
std::unique_ptr<SnapshotImpl> build_graph(std::unique_ptr<Scan> scan, const CoreModules& modules,
                                                     const CoreSymbols& syms, const CoreFile& cf,
                                                     CoreSnapshot& result, SnapshotStats& stats) {
  Scan& s = *scan;
  s.index.reset();
  auto labels = std::make_shared<LabelNames>();
  std::vector<std::uint32_t> block_types;
  *labels = label_blocks(s.blocks.data(), s.blocks.size(), s.label_hints.data(), modules.ranges.data(),
                         modules.ranges.size(), syms, block_types);
  s.label_hints.release();
  std::vector<Root> roots;
  roots.reserve(s.roots.size());
  for (const RawRoot& r : s.roots) roots.push_back(Root{r.kind, "", r.begin, r.size, r.thread});
  const auto take = [](auto& buffer) {
    auto v = to_vector(buffer);
    buffer.release();
    return v;
  };
  std::vector<GraphBlock> blocks = take(s.blocks);
  std::vector<std::uint64_t> block_begin = take(s.out.block_begin);
  std::vector<Edge> block_edges = take(s.out.block_edges);
  auto impl = std::make_unique<SnapshotImpl>();
  impl->graph = ObjectGraph(std::move(blocks), std::move(roots), std::move(block_begin), std::move(block_edges),
                            take(s.out.root_begin), take(s.out.root_edges));
  stats.bytes_scanned = s.out.bytes_scanned;
  stats.truncated = s.out.truncated;
  result.anon_peak_bytes = std::max(result.anon_peak_bytes, rss_anon_bytes());
  std::vector<std::size_t> root_module = std::move(s.root_module);
  auto sites = std::make_shared<const std::unordered_map<std::uint32_t, SiteDescription>>(std::move(s.site_names));
  scan.reset();
  impl->block_types = std::move(block_types);
  impl->describe = [labels, sites](std::uint32_t site) {
    if (!is_label(site)) {
      const auto it = sites->find(site);
      return it != sites->end() ? it->second : SiteDescription{"unknown site", {}};
    }
    const auto it = labels->find(site);
    return SiteDescription{it != labels->end() ? it->second : "unknown block", {}};
  };
  impl->name_root = make_root_namer(&impl->graph, &cf, &syms, std::move(root_module));
  return impl;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CoreSnapshot>> snapshot_core(const std::string& path,
                                                             const CoreSnapshotOptions& options) {
  auto result = std::make_unique<CoreSnapshot>();
  auto core = CoreFile::open(path);
  if (!core.ok()) return core.status();
  result->core = std::move(*core);
  auto symbols = CoreSymbols::open(*result->core, options.exe, options.sysroot);
  if (!symbols.ok()) return symbols.status();
  result->symbols = std::move(*symbols);
  const CoreMemoryImage image(*result->core);
  const CoreModules modules = collect_modules(image, *result->symbols);
  if (modules.arena_search.empty()) return absl::InvalidArgumentError("cannot find glibc's data segment in the core");
  auto scan = std::make_unique<Scan>();
  if (absl::Status st = walk_and_scan(image, *result->core, modules, *scan, *result); !st.ok()) return st;
  SnapshotStats stats;
  auto impl = build_graph(std::move(scan), modules, *result->symbols, *result->core, *result, stats);
  stats.block_source = BlockSource::kHeapWalk;
  stats.walk_ns = result->walk_ns;
  stats.heap_bytes_walked = result->walk.heap_bytes;
  stats.scanner_memory_bytes = result->memory_bytes;
  stats.sampled_blocks = result->sampled_blocks;
  impl = analyse(std::move(impl), options.compute_dominators);
  result->anon_peak_bytes = std::max(result->anon_peak_bytes, rss_anon_bytes());
  stats.analysis_ns = impl->stats.analysis_ns;
  result->analysis_ns = stats.analysis_ns;
  stats.blocks = impl->graph.block_count();
  stats.edges = impl->graph.edge_count();
  stats.roots = impl->graph.root_count();
  stats.root_edges = impl->graph.root_edge_count();
  impl->stats = stats;
  result->snapshot.emplace(internal::SnapshotAccess::make(std::move(impl)));
  return result;
}

}  // namespace syncscope::retain::internal
