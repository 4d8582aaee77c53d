// "What keeps this object alive?" for a live C++ heap.
//
// Usage (every common question is one call):
//
//   #include "syncscope/retain/retention.h"
//   namespace rt = syncscope::retain;
//
//   absl::StatusOr<rt::RetentionSnapshot> snap = rt::take_snapshot();
//   if (!snap.ok()) { std::cerr << snap.status() << "\n"; return; }
//   std::cout << rt::to_text(snap->paths_to_type("Session"));      // why alive? (by type)
//   std::cout << rt::to_text(snap->paths_to_site("make_session"));  // (by allocation site)
//   std::cout << rt::to_text(snap->path_to(reinterpret_cast<std::uintptr_t>(p)));
//   std::cout << rt::to_text(snap->top_retainers(10));           // leak suspects
//   std::cout << rt::to_text(snap->leaked_tasks());              // never woken
//   snap->write_retention_profile("/tmp/retained.pb.gz");        // go tool pprof
//   // later: rt::growth(*before, *after) -> sites whose live bytes grew
//
//   // HTTP-style, one call from query parameters to a text/JSON body:
//   absl::StatusOr<std::string> body = rt::retention_report({.type = "Session"});
//
// What take_snapshot does (DESIGN §3, docs/retain.md):
//   1. takes the live blocks from a block source: by default glibc's own
//      heap, walked (no per-allocation cost; unsampled blocks named by type
//      or size), or the exact-mode live-block table (every block with its
//      allocation site; frozen while the world is stopped);
//   2. stops every other thread with a signal (bounded wait; threads that do
//      not answer in time are reported, never waited for) and captures each
//      one's registers, stack pointer and thread pointer; with the heap walk
//      it then forks a copy-on-write child and resumes the program at once,
//      and steps 1 and 3 run in the child;
//   3. scans conservatively: every aligned pointer-sized word of a root
//      (thread stacks from the stack pointer to the top of the stack mapping,
//      saved registers, writable data segments of every loaded module, static
//      TLS) or of a live block that points into a live block (interior
//      pointers included) is an edge;
//   4. resumes the threads and only then allocates: builds the ObjectGraph,
//      the shortest-path tree and the dominator tree.
//   Nothing allocates through the hooked allocator while threads are paused.
//
// Security: reports name allocation sites, sizes, offsets, thread names and
// symbols; they never contain memory contents or heap addresses.
//
// Limits (see docs/retain.md): conservative scanning may find false edges
// (an integer that looks like a pointer) and so over-report retention, never
// under-report it among scanned roots; with the exact table, blocks allocated
// while exact mode was off are not nodes, so chains through them are cut
// (the heap walk sees every block); TLS of dlopen'ed modules
// is only covered where it lives in tracked heap blocks.
//
// Thread safety: take_snapshot may be called from any thread; concurrent
// calls are serialized. A RetentionSnapshot is immutable after construction
// except for its internal symbolization cache, which is mutex-protected: all
// const methods may be called concurrently.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "syncscope/prof/site_growth.h"
#include "syncscope/retain/object_graph.h"

namespace syncscope::retain {

// Where the snapshot's blocks come from.
enum class BlockSource {
  kAuto,        // the exact live-block table when exact mode is on, else the heap walk
  kExactTable,  // every block the hooks recorded since exact mode went on (full sites)
  kHeapWalk,    // glibc's own heap, walked while the world is stopped (no per-allocation
                // cost; sites only for sampled blocks, types from vtables)
};

struct Options {
  BlockSource block_source = BlockSource::kAuto;
  // Heap walk: a stop that finds an arena locked (a thread paused inside
  // malloc) resumes the world and tries again, at most this many times.
  int walk_attempts = 50;
  // Heap walk: stop the threads only to capture their registers and fork;
  // the walk and the scan run in the copy-on-write child while the program
  // goes on (its pause is the stop plus the page-table copy). The price is
  // copy-on-write: pages the program writes while the child scans are
  // copied. Off: walk and scan inside the pause.
  bool scan_in_child = true;
  // Bounded wait for that child; it is killed (by pid) past it.
  std::chrono::milliseconds scan_timeout{120'000};
  // Bounded wait for all threads to acknowledge the stop signal.
  std::chrono::milliseconds pause_timeout{1000};
  // Signal used to pause threads. 0: a real-time signal the program neither
  // handles nor blocks (SIGRTMAX - 3 when free), borrowed for the stop and
  // its disposition restored after. Another value: that signal, shared with
  // the program's handler if it has one (the program still receives its own
  // signals).
  int signal = 0;
  bool scan_stacks = true;
  bool scan_registers = true;
  bool scan_globals = true;
  bool scan_tls = true;
  // Name the frame that holds a stack root: each paused thread's handler
  // copies its registers and a bounded slice of its stack, unwound after the
  // threads resume (the handler never takes the loader lock).
  bool name_frames = true;
  // Compute the dominator tree (retained sizes, top_retainers, profile).
  bool compute_dominators = true;
};

// Who a root is, field by field; its display name is render_root(kind,
// detail), a pure function of these fields. Empty fields are unknown.
struct RootDetail {
  std::int64_t thread_id = 0;  // stack, register, TLS roots: the Linux thread id (0 = none)
  std::string thread_name;     // the thread's name (comm)
  std::string frame;           // stack roots: function of the frame whose slot holds the pointer
  std::string register_name;   // register roots: "rax", "r12", ...
  std::string module;          // global roots: module file name, "main executable" for the program
  std::string symbol;          // global roots: the data symbol holding the pointer ("g_cache", "g_map+0x10")
};
// "thread 'worker' (tid 12) stack, frame run_worker", "global g_cache
// (libapp.so)", ... (a thread_id of 0 is left out).
std::string render_root(RootKind kind, const RootDetail& detail);

// One hop of a retention path, root first.
struct PathHop {
  bool is_root = false;
  RootKind root_kind = RootKind::kOther;  // when is_root
  RootDetail root;                        // when is_root: structured; `name` renders it
  // Display name. Root: render_root(root_kind, root) ("thread 'worker' (tid
  // 12) stack, frame run_worker", "global g_cache (libapp.so)"); a root of a
  // synthetic graph without details keeps its own name. Block: the
  // allocation site's function when known, else the block's type or size.
  std::string name;
  // Block: its C++ type when its first word is a vtable pointer ("" unknown).
  std::string type;
  // Block: `site` is an allocation site (sampled, or the exact table), not a
  // type or size label of the heap walk.
  bool site_is_allocation = false;
  // Block: top frames of the allocation site, "function file:line",
  // innermost first, allocator plumbing (operator new, std::allocator, ...)
  // skipped. Empty for roots.
  std::vector<std::string> site_frames;
  std::uint32_t site = 0;    // block: allocation site id
  std::uint64_t size = 0;    // block: size in bytes; root: range size
  // Byte offset inside this hop where the pointer to the next hop sits. On
  // the last hop: offset of the queried address inside the block.
  std::uint64_t offset = 0;
};

struct RetentionPath {
  bool found = false;      // the address is inside a live block
  bool reachable = false;  // some root reaches it; false = leaked (C++ sense)
  std::vector<PathHop> hops;  // root -> holder -> ... -> target (if reachable)
  // The target block (when found).
  std::uint32_t target_site = 0;
  std::string target_site_name;
  std::uint64_t target_size = 0;
  std::uint64_t retained_bytes = 0;  // 0 when dominators were not computed
};

// "Leak suspect": the blocks of one allocation site, counting only those not
// dominated by another block of the same site (no double counting).
struct SiteRetainer {
  std::uint32_t site = 0;
  std::string site_name;
  std::vector<std::string> site_frames;
  std::uint64_t retained_bytes = 0;
  std::uint64_t retained_objects = 0;
  std::uint64_t live_bytes = 0;    // the site's own blocks
  std::uint64_t live_objects = 0;
  RetentionPath example_path;      // to the site's largest retainer
};

struct SiteGrowth {
  std::uint32_t site = 0;
  std::string site_name;
  std::uint64_t bytes_before = 0, bytes_after = 0;
  std::uint64_t objects_before = 0, objects_after = 0;
  RetentionPath example_path;  // in `after`, to the site's largest block
};

// A task blocked on a wait object that nothing that could ever wake it can
// reach: no running thread, no live task that could itself run, no global.
struct LeakedTask {
  std::uint64_t task_id = 0;
  std::string name;
  std::string spawn_site;
  std::string blocking_reason;
  std::string wait_object_site;  // allocation site of the wait object's block
  double age_s = 0;
};

struct SnapshotStats {
  std::uint64_t blocks = 0;
  std::uint64_t edges = 0;
  std::uint64_t roots = 0;
  std::uint64_t root_edges = 0;
  std::uint64_t threads_paused = 0;
  std::uint64_t threads_unresponsive = 0;  // did not pause in time: not scanned
  std::uint64_t bytes_scanned = 0;         // heap + roots
  std::uint64_t pause_ns = 0;              // first signal sent -> resumed (wall)
  std::uint64_t pause_cpu_ns = 0;          // CPU time of the scanning thread in the pause
  // CPU time of the conservative scan alone (roots and blocks into edges),
  // in the pause or in the copy-on-write child: bytes_scanned / scan_cpu_ns
  // is the scan's throughput per core whichever way it ran.
  std::uint64_t scan_cpu_ns = 0;
  std::uint64_t freeze_ns = 0;             // table frozen -> thawed
  std::uint64_t analysis_ns = 0;           // graph + BFS + dominators
  std::uint64_t scanner_memory_bytes = 0;  // mmap'd during the stop
  bool truncated = false;  // scanner memory ran out: some edges are missing
  BlockSource block_source = BlockSource::kAuto;  // the one used (never kAuto after a snapshot)
  // Heap walk only:
  std::uint64_t walk_ns = 0;          // the walk itself, inside the pause
  std::uint64_t heap_bytes_walked = 0;
  std::uint64_t stop_attempts = 0;    // stops taken (more than 1: an arena was locked)
  std::uint64_t sampled_blocks = 0;   // blocks named by a heap-profile sample
  bool scanned_in_child = false;      // walk and scan ran in a copy-on-write child (pause_ns excludes them)
  // The child's private memory at its end (its scanner buffers plus the
  // pages the program wrote meanwhile, copied on write): what the
  // copy-on-write scan cost in memory. 0 when unknown.
  std::uint64_t child_private_bytes = 0;
};

// "exact live-block table" / "glibc heap walk".
const char* block_source_name(BlockSource source);

// Describes an allocation site for reports: display name and top frames.
struct SiteDescription {
  std::string name;
  std::vector<std::string> frames;
};
using SiteDescriber = std::function<SiteDescription(std::uint32_t site)>;

namespace internal {
struct SnapshotAccess;
}  // namespace internal

class RetentionSnapshot {
 public:
  // A snapshot over an existing graph (tests, offline analysis). Sites are
  // described by `describe` (default: "site#<id>").
  static RetentionSnapshot from_graph(ObjectGraph graph,
                                      SiteDescriber describe = {},
                                      bool compute_dominators = true);

  RetentionSnapshot(RetentionSnapshot&&) noexcept;
  RetentionSnapshot& operator=(RetentionSnapshot&&) noexcept;
  ~RetentionSnapshot();

  const ObjectGraph& graph() const;
  const SnapshotStats& stats() const;

  // The shortest path from a root to the block containing `address`.
  RetentionPath path_to(std::uintptr_t address) const;
  // Shortest paths to blocks whose allocation site (any of its top frames)
  // contains `function_substring`: one per block, shortest first, at most
  // `max_paths`; unreachable blocks are included (reachable=false) after the
  // reachable ones.
  std::vector<RetentionPath> paths_to_site(std::string_view function_substring,
                                           std::size_t max_paths = 10) const;
  // Shortest paths to blocks of C++ type `type` (found through the block's
  // vtable pointer, so for polymorphic types and make_shared control
  // blocks): "Session" matches "app::Session" and make_shared<app::Session>'s
  // block, not "app::SessionManager". Ordered as paths_to_site.
  std::vector<RetentionPath> paths_to_type(std::string_view type, std::size_t max_paths = 10) const;
  // Sites by retained bytes, largest first.
  std::vector<SiteRetainer> top_retainers(std::size_t n = 10) const;
  // Tasks that can never be woken (needs the task registry; empty otherwise).
  std::vector<LeakedTask> leaked_tasks() const;
  // Live bytes/objects per site (growth uses it).
  struct SiteTotals {
    std::uint64_t bytes = 0, objects = 0;
    NodeId largest = kNoNode;
  };
  std::vector<std::pair<std::uint32_t, SiteTotals>> site_totals() const;

  // pprof profile.proto (gzipped) whose sample stacks are the dominator
  // chains root -> holder -> ... -> block, frames named by allocation site
  // ("root: <root name>" at the bottom); values retained_objects/count and
  // retained_space/bytes of each block itself, so a frame's cumulative value
  // is what that holder retains. Empty string if dominators were not computed.
  std::string retention_profile() const;
  // Writes retention_profile() to `path` (write_file_atomically);
  // FailedPrecondition without dominators.
  absl::Status write_retention_profile(const std::string& path) const;


 private:
  // The graph, its analyses and the naming caches (defined in the
  // library's sources); its builders make and read one only through
  // internal::SnapshotAccess.
  friend struct internal::SnapshotAccess;
  struct Impl;
  explicit RetentionSnapshot(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Stops the world, scans, resumes, analyses. Errors: FailedPrecondition when
// kExactTable is asked for with exact mode off, or when the heap walk cannot
// serve this process (another allocator, an unknown glibc); Unavailable when
// every stop found an arena locked; Internal "heap layout not recognised:
// ..." when the walk met a header it does not understand; ResourceExhausted
// if scanner memory cannot be mapped.
absl::StatusOr<RetentionSnapshot> take_snapshot(const Options& options = {});

// Sites whose live bytes grew from `before` to `after`, largest growth first
// (prof::grown_sites over the snapshots' site_totals()).
std::vector<SiteGrowth> growth(const RetentionSnapshot& before,
                               const RetentionSnapshot& after,
                               std::size_t n = 10);
// The same from the site_totals() of an earlier snapshot, kept instead of the
// snapshot itself, with prof::grown_sites's options.
std::vector<SiteGrowth> growth(const std::vector<std::pair<std::uint32_t, RetentionSnapshot::SiteTotals>>& before,
                               const RetentionSnapshot& after, const prof::GrowthOptions& options);

// Human-readable reports (one hop per line) and JSON (nlohmann-json dump).
std::string to_text(const RetentionPath& path);
std::string to_text(std::span<const RetentionPath> paths);
std::string to_text(std::span<const SiteRetainer> retainers);
std::string to_text(std::span<const SiteGrowth> growth);
std::string to_text(std::span<const LeakedTask> tasks);
std::string to_json(const RetentionPath& path);
std::string to_json(std::span<const RetentionPath> paths);
std::string to_json(std::span<const SiteRetainer> retainers);
std::string to_json(std::span<const SiteGrowth> growth);
std::string to_json(std::span<const LeakedTask> tasks);

// One call for the HTTP endpoint /debug/retain and the lab: takes a snapshot
// and answers one query. At most one of `site`, `type`, `address` may be
// set; with none, reports top retainers and leaked tasks.
struct ReportQuery {
  std::string site;                      // allocation-site substring
  std::string type;                      // C++ type (see paths_to_type)
  std::optional<std::uintptr_t> address;
  std::size_t max_paths = 10;
  std::size_t top = 10;
  bool json = false;
};
absl::StatusOr<std::string> retention_report(const ReportQuery& query,
                                             const Options& options = {});

// Parses "0x7f12..." or decimal; InvalidArgument with a message otherwise.
absl::StatusOr<std::uintptr_t> parse_address(std::string_view text);

}  // namespace syncscope::retain
