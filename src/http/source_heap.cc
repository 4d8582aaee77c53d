// prof adapter: heap counters and profiles, symbol lookup.
#include <cxxabi.h>
#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <unordered_set>

#include "common/annotated_mutex.h"
#include "http/sources.h"

#include <algorithm>
#include <chrono>

#include "http/heap_text.h"
#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/symbolizer.h"

namespace syncscope::http::internal {

namespace {
std::optional<std::string> dladdr_name(std::uintptr_t pc) {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(pc), &info) == 0 || info.dli_sname == nullptr) {
    return std::nullopt;
  }
  int status = 0;
  char* demangled = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
  std::string name = status == 0 && demangled ? demangled : info.dli_sname;
  std::free(demangled);
  return name;
}
}  // namespace

namespace {
absl::Status check_hooks() {
  if (prof::HeapProfiler::hooks_installed()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      "heap profiler hooks are not installed in this build (sanitizer build)");
}
}  // namespace

void start_heap_profiler() {
  if (prof::HeapProfiler::hooks_installed()) prof::HeapProfiler::start();
}

absl::StatusOr<HeapFigures> heap_figures() {
  if (absl::Status st = check_hooks(); !st.ok()) return st;
  const prof::HeapCounters c = prof::HeapProfiler::counters();
  HeapFigures f;
  f.live_bytes = c.live_bytes;
  f.live_objects = c.live_objects;
  f.allocated_bytes_total = c.allocated_bytes;
  f.allocated_objects_total = c.allocated_objects;
  f.freed_bytes_total = c.freed_bytes;
  f.freed_objects_total = c.freed_objects;
  f.samples_total = c.samples;
  f.sample_rate_bytes = static_cast<std::uint64_t>(prof::HeapProfiler::sample_rate());
  f.profiler_running = prof::HeapProfiler::running();
  return f;
}

// The sample type pprof shows first: Go's /heap opens on in-use space,
// /allocs on allocated space.
static std::string default_type(HeapView view) {
  return view == HeapView::kAllocs ? "alloc_space" : "inuse_space";
}

absl::StatusOr<std::string> heap_profile(HeapView view, int debug) {
  if (absl::Status st = check_hooks(); !st.ok()) return st;
  const prof::HeapSnapshot snap = prof::HeapProfiler::snapshot();
  if (debug == 0) return snap.to_pprof(default_type(view));
  return heap_profile_text(snap, prof::HeapProfiler::counters());
}

absl::StatusOr<std::string> heap_delta_profile(HeapView view, int seconds,
                                               const Canceller& canceller) {
  if (absl::Status st = check_hooks(); !st.ok()) return st;
  const prof::HeapSnapshot before = prof::HeapProfiler::snapshot();
  if (!canceller.sleep_for(std::chrono::seconds(seconds))) {
    return absl::CancelledError("server is shutting down");
  }
  return prof::HeapProfiler::snapshot().delta_since(before).to_pprof(default_type(view));
}

absl::StatusOr<std::vector<SiteFigure>> top_allocation_sites(std::size_t n) {
  if (absl::Status st = check_hooks(); !st.ok()) return st;
  std::vector<SiteFigure> out;
  for (const prof::SiteSummary& s : prof::HeapProfiler::top_sites(n)) {
    SiteFigure f;
    f.function = s.function;
    f.location = s.location;
    f.inuse_bytes = static_cast<std::uint64_t>(std::max<std::int64_t>(0, s.live_bytes));
    f.inuse_objects = static_cast<std::uint64_t>(std::max<std::int64_t>(0, s.live_objects));
    f.alloc_bytes = static_cast<std::uint64_t>(std::max<std::int64_t>(0, s.alloc_bytes));
    out.push_back(std::move(f));
  }
  return out;
}

namespace {

// Bounds what /debug/pprof/symbol can make the prof symbolizer remember:
// prof::Symbolizer caches every pc it is asked about for the process's
// lifetime, so a client posting fresh addresses would grow it without end.
// The endpoint hands it at most kMaxSymbolizedPcs distinct pcs (the ones a
// profile names repeat, so real clients stay far below); the rest are
// answered by dladdr alone, which caches nothing.
// TODO(#14): bound the cache inside prof::Symbolizer itself.
class SymbolizerBudget {
 public:
  static constexpr std::size_t kMaxSymbolizedPcs = 4096;  // 4096 x ~100 B of cache at most

  bool admit(std::uintptr_t pc) {
    common::MutexLock lock(mu_);
    if (pcs_.count(pc) != 0) return true;
    if (pcs_.size() >= kMaxSymbolizedPcs) return false;
    pcs_.insert(pc);
    return true;
  }

 private:
  common::Mutex mu_;
  std::unordered_set<std::uintptr_t> pcs_ ABSL_GUARDED_BY(mu_);  // size <= kMaxSymbolizedPcs
};

SymbolizerBudget& symbolizer_budget() {
  // Leaked on purpose: the server may still answer while static destructors run.
  static SymbolizerBudget* budget = new SymbolizerBudget;
  return *budget;
}

}  // namespace

std::optional<std::string> symbol_name(std::uintptr_t pc) {
  // Only addresses inside a loaded object get a name: an unmapped address
  // must not come back as "<first object>+0x<offset>", which reveals where
  // that object (the dynamic loader) is mapped.
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(pc), &info) == 0 || info.dli_fbase == nullptr) {
    return std::nullopt;
  }
  if (symbolizer_budget().admit(pc)) {
    std::vector<prof::SymbolFrame> frames = prof::Symbolizer::instance().symbolize(pc);
    // The last frame is the real (non-inlined) function holding pc.
    if (!frames.empty() && frames.back().function != "??") return frames.back().function;
  }
  return dladdr_name(pc);
}

}  // namespace syncscope::http::internal
