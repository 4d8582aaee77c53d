// prof adapter: heap counters and profiles, symbol lookup.
#include <cxxabi.h>
#include <dlfcn.h>

#include <cstdlib>

#include "http/sources.h"

#ifdef SYNCSCOPE_HTTP_HAVE_PROF
#include "syncscope/prof/symbolizer.h"
#endif

namespace syncscope::http::internal {

namespace {
absl::Status no_prof() {
  return absl::UnimplementedError(
      "not implemented: this build of syncscope has no heap profiler ('prof' part; link "
      "syncscope::prof)");
}

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

absl::StatusOr<HeapFigures> heap_figures() { return no_prof(); }
absl::StatusOr<std::string> heap_profile(HeapView, int) { return no_prof(); }
absl::StatusOr<std::string> heap_delta_profile(HeapView, int, const Canceller&) {
  return no_prof();
}
absl::StatusOr<std::vector<SiteFigure>> top_allocation_sites(std::size_t) { return no_prof(); }

std::optional<std::string> symbol_name(std::uintptr_t pc) {
#ifdef SYNCSCOPE_HTTP_HAVE_PROF
  std::vector<prof::SymbolFrame> frames = prof::Symbolizer::instance().symbolize(pc);
  // The last frame is the real (non-inlined) function holding pc.
  if (!frames.empty() && frames.back().function != "??") return frames.back().function;
#endif
  return dladdr_name(pc);
}

}  // namespace syncscope::http::internal
