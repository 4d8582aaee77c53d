// Adapters between the debug server and the parts it presents (prof, task,
// retain, map). http requires prof, task and map (every build has them);
// retain is optional: the build compiles source_retain.cc when it has the
// part and source_retain_absent.cc (every retain adapter returns
// absl::UnimplementedError naming the part, a 501) when not. No adapter
// #ifdefs, so every line is compiled by some build.
#pragma once

#include <cstdint>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "http/canceller.h"
#include "syncscope/map/map_registry.h"

namespace syncscope::http::internal {

// ---- heap (prof) -----------------------------------------------------------
struct HeapFigures {
  std::uint64_t live_bytes = 0;              // exact: every block the hooks saw, minus frees
  std::uint64_t live_objects = 0;
  std::uint64_t allocated_bytes_total = 0;   // since start
  std::uint64_t allocated_objects_total = 0;
  std::uint64_t freed_bytes_total = 0;
  std::uint64_t freed_objects_total = 0;
  std::uint64_t samples_total = 0;           // allocations recorded as samples
  std::uint64_t sample_rate_bytes = 0;       // mean bytes between samples (1 = all)
  bool profiler_running = false;             // sampling on (profiles empty otherwise)
};
// Starts heap sampling if the hooks are installed (DebugServer::start does
// this when Options::start_heap_profiler is set, as Go samples by default).
void start_heap_profiler();
absl::StatusOr<HeapFigures> heap_figures();

enum class HeapView { kInuse, kAllocs };  // default sample type: inuse_space / alloc_space
// Gzipped pprof (debug=0) or Go's legacy text format (debug=1).
absl::StatusOr<std::string> heap_profile(HeapView view, int debug);
// Delta over `seconds` (Go's ?seconds=N): allocations made during the
// window. Cancelled (absl::CancelledError) when the server stops.
absl::StatusOr<std::string> heap_delta_profile(HeapView view, int seconds,
                                               const Canceller& canceller);

struct SiteFigure {
  std::string function;        // innermost user frame of the site
  std::string location;        // file:line, "" when unknown
  std::uint64_t inuse_bytes = 0;
  std::uint64_t inuse_objects = 0;
  std::uint64_t alloc_bytes = 0;
};
absl::StatusOr<std::vector<SiteFigure>> top_allocation_sites(std::size_t n);

// Function name of a code address, for /debug/pprof/symbol (dladdr when the
// prof symbolizer is not in the build). nullopt for an address outside every
// loaded object. Bounded: at most 4096 distinct pcs ever reach the prof
// symbolizer's cache through here; later ones are named by dladdr only.
std::optional<std::string> symbol_name(std::uintptr_t pc);

// ---- tasks (task) ----------------------------------------------------------
struct TaskFigures {
  std::uint64_t live = 0;
  std::uint64_t resident = 0;       // alive longer than the resident threshold
  std::uint64_t queued = 0, running = 0, blocked = 0;
  std::uint64_t spawned_total = 0;
};
absl::StatusOr<TaskFigures> task_figures(int resident_after_s);

struct ResidentGroup {
  std::string site;                 // "file:line function"
  std::uint64_t count = 0;
  std::string blocking_reason;      // most frequent, "" = running or queued
  double oldest_age_s = 0;
  std::string oldest_name;
};
absl::StatusOr<std::vector<ResidentGroup>> resident_groups(int resident_after_s);

// debug = 0 (gzipped pprof), 1 (aggregated text) or 2 (one block per task/thread).
absl::StatusOr<std::string> goroutine_profile(int debug);
// Chrome trace JSON of the next `seconds`; ends early when cancelled.
absl::StatusOr<std::string> trace_json(int seconds, const Canceller& canceller);

// ---- retention (retain) ----------------------------------------------------
absl::StatusOr<std::string> retention_profile();
struct RetainQuery {
  std::optional<std::string> site;
  std::optional<std::string> type;
  std::optional<std::string> addr;
  bool json = true;
  int max_paths = 10;
};
absl::StatusOr<std::string> retention_report(const RetainQuery& query);

// ---- maps (map) ------------------------------------------------------------
// The registry's maps, names made unique with "#2", "#3" ... suffixes
// (Prometheus needs distinct label sets).
std::vector<map::NamedMapStats> map_figures();

// Which parts this build presents (for the index page and the dashboard).
struct PartsPresent {
  bool prof = false, task = false, retain = false, map = false;
};
PartsPresent parts_present();

}  // namespace syncscope::http::internal
