// take_snapshot: freeze the live-block table, stop the world, scan roots and
// blocks into mmap'ed buffers, resume, thaw; only then allocate and analyse.
//
// Between freeze() and thaw() this file calls nothing that allocates through
// malloc: MmapBuffer, raw syscalls, dl_iterate_phdr is done before freeze.
#include <link.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <algorithm>
#include <memory>
#include <new>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "retain/block_labels.h"
#include "retain/glibc_heap_walker.h"
#include "retain/heap_scanner.h"
#include "retain/live_heap_source.h"
#include "retain/memory_image.h"
#include "retain/naming.h"
#include "retain/proc_maps.h"
#include "retain/scan_child.h"
#include "retain/snapshot_impl.h"
#include "retain/world_stopper.h"
#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/live_blocks.h"
#include "syncscope/prof/untracked_scope.h"
#if SYNCSCOPE_RETAIN_HAVE_TASK
#include "syncscope/task/task_registry.h"
#endif

namespace syncscope::retain {
namespace {

using internal::BlockIndex;
using internal::MmapBuffer;
using internal::RawRoot;

constexpr std::uintptr_t kRedZone = 128;        // x86-64 ABI: leaf data below sp
constexpr std::uintptr_t kTcbBytes = 4096;      // struct pthread and friends above tp (glibc)
constexpr std::uintptr_t kTlsSurplus = 2048;    // glibc static TLS surplus below tp
constexpr std::int32_t kCallerThread = 0;       // ThreadInfo index of the scanning thread
constexpr int kCalleeSaved = 12;                // callee-saved registers captured at entry

std::mutex g_snapshot_mu;  // one snapshot at a time

struct Modules {
  MmapBuffer<RawRoot> segments;               // writable: global roots
  MmapBuffer<internal::ModuleRange> ranges;   // every PT_LOAD segment: what block labels point into
  std::uint64_t static_tls_bytes = 0;
};

int collect_module(dl_phdr_info* info, std::size_t, void* data) {
  auto* m = static_cast<Modules*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_TLS) m->static_tls_bytes += ph.p_memsz + ph.p_align;
    if (ph.p_type == PT_LOAD && ph.p_memsz != 0) {
      const std::uintptr_t begin = info->dlpi_addr + ph.p_vaddr;
      m->ranges.push_back(internal::ModuleRange{begin, begin + ph.p_memsz, (ph.p_flags & PF_X) != 0});
    }
    if (ph.p_type != PT_LOAD || (ph.p_flags & PF_W) == 0 || ph.p_memsz == 0) continue;
    RawRoot r;
    r.kind = RootKind::kGlobal;
    r.begin = info->dlpi_addr + ph.p_vaddr;
    r.size = ph.p_memsz;
    r.module = info->dlpi_name;
    r.module_base = info->dlpi_addr;
    m->segments.push_back(r);
  }
  return 0;
}

// Everything the stopped phase reads and writes; all mmap-backed.
struct Capture {
  Modules modules;
  MmapBuffer<GraphBlock> blocks;
  BlockIndex index;
  MmapBuffer<char> maps_text;
  MmapBuffer<internal::Mapping> maps;
  MmapBuffer<internal::Range> excluded;
  MmapBuffer<RawRoot> roots;
  internal::ScanOutput scan;
  internal::StopResult stop;
  MmapBuffer<std::size_t> paused_slots;  // slot index per ThreadInfo index - 1
  std::uintptr_t caller_stack_from = 0;  // the public entry's frame: scan from here up
  std::uintptr_t caller_regs[kCalleeSaved] = {};
  std::uintptr_t caller_frame_pc[internal::kMaxCapturedFrames];
  std::uintptr_t caller_frame_sp[internal::kMaxCapturedFrames];
  int caller_frames = 0;
  bool maps_ok = false;
  std::uint64_t scan_cpu_ns = 0;  // collect_and_scan's scan_all, thread CPU time
  // Heap walk only.
  bool freeze_failed = false;  // exact table: freeze() timed out or could not map its snapshot
  internal::HeapWalkPrep walk_prep;
  internal::HeapWalkResult walk;
  MmapBuffer<std::uintptr_t> label_hints;  // per block (block_labels.h)

  std::size_t memory_bytes() const {
    return modules.segments.mapped_bytes() + blocks.mapped_bytes() + index.memory_bytes() +
           maps_text.mapped_bytes() + maps.mapped_bytes() + roots.mapped_bytes() +
           scan.root_begin.mapped_bytes() + scan.root_edges.mapped_bytes() +
           scan.block_begin.mapped_bytes() + scan.block_edges.mapped_bytes();
  }
};

void add_piece(Capture& c, const RawRoot& r) {
  internal::add_root_pieces(r, c.maps, c.blocks.data(), c.blocks.size(), c.excluded.data(),
                            c.excluded.size(), c.roots);
}

// Stack, registers and (when outside the stack mapping) TLS of one thread.
void add_thread_roots(Capture& c, const Options& o, std::int32_t thread, std::uintptr_t sp,
                      std::uintptr_t tp, const std::uintptr_t* regs, int reg_count) {
  const internal::Mapping* stack = internal::find_mapping(c.maps, sp);
  if (o.scan_stacks && stack != nullptr) {
    const std::uintptr_t begin = sp - kRedZone > stack->start ? sp - kRedZone : stack->start;
    add_piece(c, RawRoot{RootKind::kStack, begin, stack->end - begin, thread, nullptr});
  }
  if (o.scan_registers && regs != nullptr && reg_count > 0) {
    // Registers live in the slot region, never clipped: push directly.
    c.roots.push_back(RawRoot{RootKind::kRegister, reinterpret_cast<std::uintptr_t>(regs),
                              static_cast<std::uint64_t>(reg_count) * sizeof(std::uintptr_t), thread,
                              nullptr});
  }
  const bool tls_in_stack = stack != nullptr && tp >= stack->start && tp < stack->end;
  if (o.scan_tls && tp != 0 && !tls_in_stack) {
    const internal::Mapping* m = internal::find_mapping(c.maps, tp);
    if (m != nullptr) {
      const std::uintptr_t below = c.modules.static_tls_bytes + kTlsSurplus;
      const std::uintptr_t begin = tp - m->start > below ? tp - below : m->start;
      const std::uintptr_t end = m->end - tp > kTcbBytes ? tp + kTcbBytes : m->end;
      add_piece(c, RawRoot{RootKind::kTls, begin, end - begin, thread, nullptr});
    }
  }
}

std::uint64_t thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// Runs with the world stopped, /proc/self/maps read: roots, then the scan.
// No malloc.
void collect_and_scan(Capture& c, const Options& o) {
  if (!c.maps_ok) return;
  // The scanning thread: from the public entry's frame up (the scanner's own
  // frames below it may hold stale words), plus the callee-saved registers
  // captured at that entry.
  add_thread_roots(c, o, kCallerThread, c.caller_stack_from + kRedZone,
                   reinterpret_cast<std::uintptr_t>(__builtin_thread_pointer()), c.caller_regs,
                   kCalleeSaved);
  for (std::size_t i = 0; i < c.stop.count; ++i) {
    const internal::ThreadSlot& s = c.stop.slots[i];
    // acquire: pairs with the handler's release store of kPaused [P1].
    if (s.state.load(std::memory_order_acquire) != internal::kPaused) continue;
    c.paused_slots.push_back(i);
    add_thread_roots(c, o, static_cast<std::int32_t>(c.paused_slots.size()), s.sp, s.tp, s.regs,
                     s.reg_count);
  }
  if (o.scan_globals) {
    for (const RawRoot& seg : c.modules.segments) add_piece(c, seg);
  }
  const internal::LiveMemoryImage image(c.maps);
  const std::uint64_t cpu_start = thread_cpu_ns();
  internal::scan_all(image, c.roots.data(), c.roots.size(), c.blocks.data(), c.blocks.size(), c.index, c.scan);
  c.scan_cpu_ns = thread_cpu_ns() - cpu_start;
}

std::uint64_t ns_since(std::chrono::steady_clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t).count());
}

std::string thread_name(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name.empty() ? "?" : name;
}

}  // namespace

namespace {

// After thaw: the ThreadInfo list (index 0 = the scanning thread).
std::shared_ptr<std::vector<internal::ThreadInfo>> thread_infos(const Capture& c) {
  auto threads = std::make_shared<std::vector<internal::ThreadInfo>>();
  internal::ThreadInfo self;
  self.tid = static_cast<pid_t>(::syscall(SYS_gettid));
  self.frame_pc.assign(c.caller_frame_pc, c.caller_frame_pc + c.caller_frames);
  self.frame_sp.assign(c.caller_frame_sp, c.caller_frame_sp + c.caller_frames);
  threads->push_back(std::move(self));
  for (std::size_t slot : c.paused_slots) {
    const internal::ThreadSlot& s = c.stop.slots[slot];
    internal::ThreadInfo t;
    t.tid = s.tid;
    t.frame_pc.assign(s.frame_pc, s.frame_pc + s.frame_count);
    t.frame_sp.assign(s.frame_sp, s.frame_sp + s.frame_count);
    threads->push_back(std::move(t));
  }
  for (auto& t : *threads) t.name = thread_name(t.tid);
  return threads;
}

std::string thread_label(const internal::ThreadInfo& t) {
  return "thread '" + t.name + "' (tid " + std::to_string(t.tid) + ")";
}

struct ModuleRef {
  std::string path;
  std::uintptr_t base = 0;
};

std::vector<Root> make_roots(const Capture& c, const std::vector<internal::ThreadInfo>& threads,
                             std::vector<ModuleRef>& modules) {
  std::vector<Root> roots;
  roots.reserve(c.roots.size());
  modules.assign(c.roots.size(), ModuleRef{});
  for (std::size_t i = 0; i < c.roots.size(); ++i) {
    const RawRoot& r = c.roots[i];
    Root root;
    root.kind = r.kind;
    root.begin = r.begin;
    root.size = r.size;
    root.thread = r.thread;
    if (r.kind == RootKind::kGlobal) {
      modules[i] = ModuleRef{r.module != nullptr ? r.module : "", r.module_base};
      root.name = "global data of " + (modules[i].path.empty() ? std::string("main executable") : modules[i].path);
    } else {
      const std::string who = thread_label(threads[static_cast<std::size_t>(r.thread)]);
      root.name = who + (r.kind == RootKind::kStack ? " stack"
                         : r.kind == RootKind::kRegister ? " registers" : " thread-local storage");
    }
    roots.push_back(std::move(root));
  }
  return roots;
}

// The registers captured at the public entry (see take_snapshot).
std::string callee_saved_name(int index) {
#if defined(__x86_64__)
  static const char* const kNames[] = {"rbx", "rbp", "r12", "r13", "r14", "r15"};
  if (index >= 0 && index < 6) return kNames[index];
#elif defined(__aarch64__)
  if (index >= 0 && index < 12) return "x" + std::to_string(19 + index);
#endif
  return "callee-saved#" + std::to_string(index);
}

RootNamer make_root_namer(const ObjectGraph* graph,
                          std::shared_ptr<std::vector<internal::ThreadInfo>> threads,
                          std::vector<ModuleRef> modules) {
  return [graph, threads = std::move(threads), modules = std::move(modules)](std::size_t r,
                                                                               std::uint64_t off) {
    const Root& root = graph->root(r);
    RootDetail d;
    if (root.kind == RootKind::kGlobal) {
      d.module = modules[r].path.empty() ? "main executable" : internal::basename_of(modules[r].path);
      d.symbol = internal::global_symbol(root.begin + off, modules[r].path, modules[r].base);
      return d;
    }
    if (root.thread < 0) return d;
    const internal::ThreadInfo& t = (*threads)[static_cast<std::size_t>(root.thread)];
    d.thread_id = t.tid;
    d.thread_name = t.name;
    if (root.kind == RootKind::kStack) d.frame = internal::frame_function(t, root.begin + off);
    if (root.kind == RootKind::kRegister) {
      const int index = static_cast<int>(off / sizeof(std::uintptr_t));
      d.register_name = root.thread == kCallerThread ? callee_saved_name(index)
                                                     : internal::WorldStopper::register_name(index);
    }
    return d;
  };
}

template <class T>
std::vector<T> to_vector(const MmapBuffer<T>& b) {
  return std::vector<T>(b.begin(), b.end());
}

void attach_tasks(SnapshotImpl& impl, const std::vector<internal::ThreadInfo>& threads) {
#if SYNCSCOPE_RETAIN_HAVE_TASK
  const auto now = task::Clock::now();
  for (const task::TaskInfo& info : task::TaskRegistry::instance().live_tasks()) {
    TaskRecord t;
    t.id = info.id;
    t.name = info.name;
    t.spawn_site = info.site_string();
    t.blocking_reason = info.blocking_reason;
    t.wait_object_hidden = info.wait_object == 0 ? 0 : hide_address(info.wait_object);
    t.blocked = info.state == task::TaskState::kBlocked;
    t.age_s = std::chrono::duration<double>(info.age(now)).count();
    for (std::size_t r = 0; r < impl.graph.root_count(); ++r) {
      const std::int32_t th = impl.graph.root(r).thread;
      if (th >= 0 && info.thread_id != 0 && threads[static_cast<std::size_t>(th)].tid == info.thread_id)
        t.own_roots.push_back(r);
    }
    impl.tasks.push_back(std::move(t));
  }
#else
  (void)impl, (void)threads;
#endif
}

// Capture lives in mmap'ed memory, not the heap: a heap block here would be
// a node of the very graph it describes.
struct CaptureHolder {
  MmapBuffer<unsigned char> memory;
  Capture* capture = nullptr;
  bool init() {
    if (!memory.reserve(sizeof(Capture))) return false;
    capture = new (memory.data()) Capture();
    return true;
  }
  void reset() {
    if (capture != nullptr) capture->~Capture();
    capture = nullptr;
    memory.release();
  }
  ~CaptureHolder() { reset(); }
};

// Freeze .. thaw: copy the blocks, stop the world, scan, resume. Nothing in
// here allocates through malloc. Returns false when scanner memory could
// not be mapped.
bool capture_frozen(Capture& c, prof::LiveBlockTable& table, const Options& options, int signal,
                    SnapshotStats& stats) {
  const auto freeze_start = std::chrono::steady_clock::now();
  // Bounded: false when a hook did not leave its busy section in time or the
  // table's snapshot could not be mapped (the table is thawed then).
  if (!table.freeze()) {
    c.freeze_failed = true;
    return false;
  }
  const auto live = table.sorted_blocks();
  bool ok = c.blocks.reserve(live.size() + 1) && c.excluded.reserve(4);
  if (ok) {
    for (const prof::LiveBlock& b : live) c.blocks.push_back(GraphBlock{b.address, b.size, b.site});
    const auto table_begin = reinterpret_cast<std::uintptr_t>(live.data());
    c.excluded.push_back({table_begin, table_begin + live.size_bytes()});
    ok = c.index.build(c.blocks.data(), c.blocks.size());
  }
  const auto pause_start = std::chrono::steady_clock::now();
  const std::uint64_t cpu_start = thread_cpu_ns();
  if (ok) {
    c.stop = internal::WorldStopper::stop(signal, options.pause_timeout, options.name_frames);
    c.maps_ok = internal::read_proc_maps(c.maps_text, c.maps);
    collect_and_scan(c, options);
    internal::capture_label_hints(internal::LiveMemoryImage(c.maps), c.blocks.data(), c.blocks.size(),
                                  c.modules.ranges.data(), c.modules.ranges.size(), c.label_hints);
    internal::WorldStopper::resume(c.stop);
  }
  stats.pause_ns = ns_since(pause_start);
  stats.pause_cpu_ns = thread_cpu_ns() - cpu_start;
  stats.scan_cpu_ns = c.scan_cpu_ns;
  table.thaw();
  stats.freeze_ns = ns_since(freeze_start);
  return ok;
}

// The walker keeps its scratch and the main arena's address across
// snapshots (serialized by g_snapshot_mu).
internal::GlibcHeapWalker& heap_walker() {
  static internal::GlibcHeapWalker* walker = new internal::GlibcHeapWalker();
  return *walker;
}

// Walk, index, scan and name-hint: the work on a stopped image (the stopped
// process itself, or the copy-on-write child). No malloc.
bool walk_and_scan(Capture& c, const Options& options, const internal::LiveMemoryImage& image,
                   SnapshotStats& stats) {
  const internal::Range slots{internal::WorldStopper::slots_begin(),
                              internal::WorldStopper::slots_begin() + internal::WorldStopper::slots_bytes()};
  const auto walk_start = std::chrono::steady_clock::now();
  c.walk = heap_walker().walk(image, {c.walk_prep.libc_data.data(), c.walk_prep.libc_data.size()},
                              {&slots, 1}, c.blocks);
  stats.walk_ns = ns_since(walk_start);
  if (c.walk.status != internal::WalkStatus::kOk) return true;  // reported through c.walk
  if (!c.index.build(c.blocks.data(), c.blocks.size())) return false;
  collect_and_scan(c, options);
  internal::capture_label_hints(image, c.blocks.data(), c.blocks.size(), c.modules.ranges.data(),
                                c.modules.ranges.size(), c.label_hints);
  return true;
}

// What the copy-on-write child hands back, in this order, ending with kEndMarker.
constexpr std::uint64_t kEndMarker = 0x5359'4e43'5343'414eull;  // proves the child finished writing

[[noreturn]] void scan_in_child(Capture& c, const Options& options, const internal::LiveMemoryImage& image,
                                int fd) {
  SnapshotStats stats;
  const bool ok = walk_and_scan(c, options, image, stats);
  internal::ResultWriter w(fd);
  w.put(ok);
  w.put(c.walk);
  w.put(stats.walk_ns);
  w.put_buffer(c.blocks);
  w.put_buffer(c.roots);
  w.put_buffer(c.paused_slots);
  w.put_buffer(c.scan.root_begin);
  w.put_buffer(c.scan.root_edges);
  w.put_buffer(c.scan.block_begin);
  w.put_buffer(c.scan.block_edges);
  w.put(c.scan.bytes_scanned);
  w.put(c.scan.truncated);
  w.put(c.scan_cpu_ns);
  w.put_buffer(c.label_hints);
  w.put(internal::private_memory_bytes());
  w.put(kEndMarker);
  internal::exit_child(w.ok() ? 0 : 3);
}

// Parent: the child's results into `c`; "" on success, else why not.
std::string read_child_results(Capture& c, int fd, SnapshotStats& stats) {
  internal::ResultReader r;
  bool ok = false;
  std::uint64_t end = 0;
  const bool read = r.open(fd) && r.get(ok) && r.get(c.walk) && r.get(stats.walk_ns) && r.get_buffer(c.blocks) &&
                    r.get_buffer(c.roots) && r.get_buffer(c.paused_slots) && r.get_buffer(c.scan.root_begin) &&
                    r.get_buffer(c.scan.root_edges) && r.get_buffer(c.scan.block_begin) &&
                    r.get_buffer(c.scan.block_edges) && r.get(c.scan.bytes_scanned) && r.get(c.scan.truncated) &&
                    r.get(c.scan_cpu_ns) &&
                    r.get_buffer(c.label_hints) && r.get(stats.child_private_bytes) && r.get(end);
  if (!read || end != kEndMarker) return "the scan process's results are incomplete";
  return ok ? "" : "the scan process ran out of scanner memory";
}

// Stop, walk glibc's heap, scan, resume. A stop that finds an arena locked
// (a thread paused inside malloc) resumes at once and tries again after
// letting the threads run for a moment, at most options.walk_attempts times.
// With options.scan_in_child the walk and the scan run in a copy-on-write
// child and the program resumes right after the fork (scan_child.h); when
// the kernel refuses the fork, they run in the pause as before.
// Nothing in here allocates through malloc while the world is stopped.
bool capture_walked(Capture& c, const Options& options, int signal, SnapshotStats& stats, std::string& error) {
  const auto pause_start = std::chrono::steady_clock::now();
  const std::uint64_t cpu_start = thread_cpu_ns();
  internal::ResultChannel channel;
  const bool fork_scan = options.scan_in_child && channel.open();
  bool ok = true;
  pid_t child = -1;
  for (int attempt = 0; attempt < std::max(1, options.walk_attempts); ++attempt) {
    if (attempt > 0) {
      const timespec let_threads_run{0, 2'000'000};  // 2 ms
      ::nanosleep(&let_threads_run, nullptr);
    }
    ++stats.stop_attempts;
    c.stop = internal::WorldStopper::stop(signal, options.pause_timeout, options.name_frames);
    if (c.stop.slots == nullptr) return false;
    c.maps_ok = internal::read_proc_maps(c.maps_text, c.maps);
    if (!c.maps_ok) break;
    const internal::LiveMemoryImage image(c.maps);
    // A locked arena means a stopped thread is inside malloc: its chunks
    // (and, for the fork, glibc's own fork bookkeeping) are mid-change.
    c.walk = heap_walker().list_arenas(image, {c.walk_prep.libc_data.data(), c.walk_prep.libc_data.size()});
    if (c.walk.status == internal::WalkStatus::kBusy) {
      internal::WorldStopper::resume(c.stop);
      continue;
    }
    if (c.walk.status != internal::WalkStatus::kOk) break;
    child = fork_scan ? internal::fork_without_handlers() : -1;
    if (child == 0) scan_in_child(c, options, image, channel.fd());
    if (child < 0) ok = walk_and_scan(c, options, image, stats);
    break;
  }
  if (c.walk.status != internal::WalkStatus::kBusy) internal::WorldStopper::resume(c.stop);
  stats.pause_ns = ns_since(pause_start);
  stats.pause_cpu_ns = thread_cpu_ns() - cpu_start;
  if (child > 0) {
    stats.scanned_in_child = true;
    error = internal::wait_for_child(child, options.scan_timeout);
    if (error.empty()) error = read_child_results(c, channel.fd(), stats);
    ok = error.empty();
  }
  stats.heap_bytes_walked = c.walk.stats.heap_bytes;
  stats.scan_cpu_ns = c.scan_cpu_ns;
  return ok;
}

// After resume: blocks that the heap profiler sampled get their allocation
// site. A sample whose block was freed and reused after the stop could name
// the new block wrongly; it must at least fit in it.
void name_sampled_blocks(MmapBuffer<GraphBlock>& blocks, SnapshotStats& stats) {
  const std::vector<prof::LiveBlock> samples = prof::sampled_live_blocks();
  for (const prof::LiveBlock& s : samples) {
    GraphBlock* b = std::lower_bound(blocks.begin(), blocks.end(), s.address,
                                     [](const GraphBlock& g, std::uintptr_t a) { return g.address < a; });
    if (b != blocks.end() && b->address == s.address && s.size <= b->size) {
      b->site = s.site;
      ++stats.sampled_blocks;
    }
  }
}

// After thaw: the graph, names, tasks and analyses.
RetentionSnapshot build_snapshot(CaptureHolder& capture, const Options& options, SnapshotStats stats) {
  Capture& c = *capture.capture;
  // Heap walk: blocks nobody sampled are named by type or size (label ids).
  auto labels = std::make_shared<internal::LabelNames>();
  std::vector<std::uint32_t> block_types;
  *labels = internal::label_blocks(c.blocks.data(), c.blocks.size(),
                                   c.label_hints.size() == c.blocks.size() ? c.label_hints.data() : nullptr,
                                   c.modules.ranges.data(), c.modules.ranges.size(),
                                   internal::live_symbol_source(), block_types);
  stats.threads_paused = c.stop.paused;
  stats.threads_unresponsive = c.stop.abandoned;
  stats.bytes_scanned = c.scan.bytes_scanned;
  stats.scanner_memory_bytes = c.memory_bytes();
  stats.truncated = stats.truncated || c.scan.truncated;
  auto threads = thread_infos(c);
  std::vector<ModuleRef> modules;
  auto impl = std::make_unique<SnapshotImpl>();
  impl->graph = ObjectGraph(to_vector(c.blocks), make_roots(c, *threads, modules),
                            to_vector(c.scan.block_begin), to_vector(c.scan.block_edges),
                            to_vector(c.scan.root_begin), to_vector(c.scan.root_edges));
  capture.reset();  // unmap the scanner memory
  impl->block_types = std::move(block_types);
  impl->describe = [labels](std::uint32_t site) {
    if (internal::is_label(site)) {
      const auto it = labels->find(site);
      return SiteDescription{it != labels->end() ? it->second : "unknown block", {}};
    }
    return internal::describe_live_site(site);
  };
  impl->name_root = make_root_namer(&impl->graph, threads, std::move(modules));
  attach_tasks(*impl, *threads);
  impl = analyse(std::move(impl), options.compute_dominators);
  stats.analysis_ns = impl->stats.analysis_ns;
  stats.blocks = impl->graph.block_count();
  stats.edges = impl->graph.edge_count();
  stats.roots = impl->graph.root_count();
  stats.root_edges = impl->graph.root_edge_count();
  impl->stats = stats;
  return internal::SnapshotAccess::make(std::move(impl));
}

absl::Status resolve_source(const Options& options, BlockSource& source) {
  source = options.block_source;
  if (source == BlockSource::kAuto) {
    source = prof::HeapProfiler::exact_mode() ? BlockSource::kExactTable : BlockSource::kHeapWalk;
  }
  if (source == BlockSource::kExactTable && !prof::HeapProfiler::exact_mode()) {
    return absl::FailedPreconditionError(
        "exact mode is off: call syncscope::prof::HeapProfiler::set_exact_mode(true) early, or set "
        "SYNCSCOPE_EXACT=1 (blocks allocated before that are invisible to the exact table); the default "
        "block source, the heap walk, needs neither");
  }
  return absl::OkStatus();
}

absl::StatusOr<RetentionSnapshot> take_snapshot_from(const Options& options, std::uintptr_t stack_from,
                                                     const std::uintptr_t* caller_regs) {
  prof::LiveBlockTable& table = prof::LiveBlockTable::instance();
  BlockSource source;
  if (absl::Status s = resolve_source(options, source); !s.ok()) return s;
  const int signal = options.signal != 0 ? options.signal : SIGRTMAX - 3;
  if (signal < SIGRTMIN || signal > SIGRTMAX) {
    return absl::InvalidArgumentError("Options::signal must be a real-time signal");
  }
  std::lock_guard<std::mutex> lock(g_snapshot_mu);
  CaptureHolder capture;
  if (!capture.init()) return absl::ResourceExhaustedError("cannot map scanner memory");
  Capture& c = *capture.capture;
  c.caller_stack_from = stack_from;
  std::copy(caller_regs, caller_regs + kCalleeSaved, c.caller_regs);
  // Before the stop: these may take the loader lock (not while threads are paused).
  if (source == BlockSource::kHeapWalk) {
    if (absl::Status s = internal::prepare_heap_walk(c.walk_prep); !s.ok()) return s;
  }
  dl_iterate_phdr(collect_module, &c.modules);
  std::sort(c.modules.ranges.begin(), c.modules.ranges.end(),
            [](const internal::ModuleRange& a, const internal::ModuleRange& b) { return a.begin < b.begin; });
  c.caller_frames = internal::capture_own_frames(c.caller_frame_pc, c.caller_frame_sp,
                                                 internal::kMaxCapturedFrames);
  SnapshotStats stats;
  stats.block_source = source;
  std::string child_error;
  const bool captured = source == BlockSource::kHeapWalk ? capture_walked(c, options, signal, stats, child_error)
                                                         : capture_frozen(c, table, options, signal, stats);
  if (!child_error.empty()) return absl::InternalError("retention scan: " + child_error);
  if (c.freeze_failed) {
    return absl::UnavailableError(
        "live-block table: an allocating thread did not leave the hook in time, or no memory for the "
        "table's snapshot");
  }
  if (!captured || c.stop.slots == nullptr) {
    return absl::ResourceExhaustedError("cannot map scanner memory or install the stop signal");
  }
  if (source == BlockSource::kExactTable && prof::LiveBlockTable::instance().dropped_blocks() != 0) {
    stats.truncated = true;  // the table could not grow at some point: blocks are missing
  }
  if (!c.maps_ok) return absl::InternalError("cannot read /proc/self/maps");
  if (source == BlockSource::kHeapWalk) {
    if (c.walk.status == internal::WalkStatus::kBusy) {
      return absl::UnavailableError("every stop found a malloc arena locked (" +
                                    std::to_string(stats.stop_attempts) + " attempts): " + c.walk.message);
    }
    if (c.walk.status != internal::WalkStatus::kOk) return absl::InternalError(c.walk.message);
  }
  // The snapshot's own memory stays out of the live-block table: a snapshot
  // kept for a later comparison is not the program's, and must not become
  // nodes (and a top retainer) of the next scan.
  const prof::UntrackedScope untracked;
  if (source == BlockSource::kHeapWalk) name_sampled_blocks(c.blocks, stats);
  return build_snapshot(capture, options, stats);
}

}  // namespace

// Public entry: records where the caller's stack begins and the
// callee-saved registers as the caller left them, before any of the
// scanner's own code can overwrite them.
__attribute__((noinline)) absl::StatusOr<RetentionSnapshot> take_snapshot(const Options& options) {
  std::uintptr_t regs[kCalleeSaved] = {};
#if defined(__x86_64__)
  asm volatile(
      "movq %%rbx, 0(%0)\n\tmovq %%rbp, 8(%0)\n\tmovq %%r12, 16(%0)\n\t"
      "movq %%r13, 24(%0)\n\tmovq %%r14, 32(%0)\n\tmovq %%r15, 40(%0)"
      :
      : "r"(regs)
      : "memory");
#elif defined(__aarch64__)
  asm volatile(
      "stp x19, x20, [%0, #0]\n\tstp x21, x22, [%0, #16]\n\tstp x23, x24, [%0, #32]\n\t"
      "stp x25, x26, [%0, #48]\n\tstp x27, x28, [%0, #64]\n\tstp x29, x30, [%0, #80]"
      :
      : "r"(regs)
      : "memory");
#endif
  return take_snapshot_from(options, reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0)), regs);
}

}  // namespace syncscope::retain
