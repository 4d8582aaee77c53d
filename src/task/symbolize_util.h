// Symbolized frames for the task part's text outputs (thread dumps, the
// goroutine profile), via the heap profiler's symbolizer (DESIGN §3).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace syncscope::task::internal {

struct ResolvedFrame {
  std::uintptr_t pc;     // the address as captured
  std::string function;  // "??" when unknown
  std::string file;      // "" when unknown
  int line = 0;
};

// Expands each pc (inlined frames first). Return addresses are looked up at
// pc - 1 so that the call's own line is reported; with `exact_first`, pcs[0]
// is an interrupted instruction (signal context) and is used as is.
std::vector<ResolvedFrame> resolve(std::span<const std::uintptr_t> pcs, bool exact_first);

// "file:line" or "?" when unknown.
std::string location(const ResolvedFrame& f);

}  // namespace syncscope::task::internal
