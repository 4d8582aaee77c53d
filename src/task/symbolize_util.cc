#include "task/symbolize_util.h"

#include "syncscope/prof/symbolizer.h"

namespace syncscope::task::internal {

std::vector<ResolvedFrame> resolve(std::span<const std::uintptr_t> pcs, bool exact_first) {
  std::vector<ResolvedFrame> out;
  prof::Symbolizer& sym = prof::Symbolizer::instance();
  for (std::size_t i = 0; i < pcs.size(); ++i) {
    const std::uintptr_t lookup = (i == 0 && exact_first) || pcs[i] == 0 ? pcs[i] : pcs[i] - 1;
    std::vector<prof::SymbolFrame> frames = sym.symbolize(lookup);
    if (frames.empty()) {
      out.push_back({pcs[i], "??", "", 0});
      continue;
    }
    for (prof::SymbolFrame& f : frames) out.push_back({pcs[i], std::move(f.function), std::move(f.file), f.line});
  }
  return out;
}

std::string location(const ResolvedFrame& f) {
  if (f.file.empty()) return "?";
  return f.file + ":" + std::to_string(f.line);
}

}  // namespace syncscope::task::internal
