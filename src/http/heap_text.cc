#include "http/heap_text.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "syncscope/prof/symbolizer.h"

namespace syncscope::http::internal {
namespace {

void append_frames(std::string* out, const std::vector<std::uintptr_t>& pcs) {
  for (std::uintptr_t pc : pcs) {
    // Return addresses point after the call; pc-1 names the call's line.
    const std::vector<prof::SymbolFrame> frames = prof::Symbolizer::instance().symbolize(pc - 1);
    if (frames.empty()) {
      absl::StrAppendFormat(out, "#\t%#x\t??\n", pc);
      continue;
    }
    for (const prof::SymbolFrame& f : frames) {
      absl::StrAppendFormat(out, "#\t%#x\t%s\t%s:%d\n", pc, f.function, f.file, f.line);
    }
  }
}

}  // namespace

std::string heap_profile_text(const prof::HeapSnapshot& snapshot,
                              const prof::HeapCounters& counters) {
  std::vector<const prof::HeapSample*> samples;
  std::int64_t io = 0, ib = 0, ao = 0, ab = 0;
  for (const prof::HeapSample& s : snapshot.samples) {
    samples.push_back(&s);
    io += s.inuse_objects;
    ib += s.inuse_bytes;
    ao += s.alloc_objects;
    ab += s.alloc_bytes;
  }
  std::sort(samples.begin(), samples.end(), [](const auto* a, const auto* b) {
    return a->inuse_bytes != b->inuse_bytes ? a->inuse_bytes > b->inuse_bytes
                                            : a->alloc_bytes > b->alloc_bytes;
  });
  std::string out = absl::StrFormat("heap profile: %d: %d [%d: %d] @ heap/%d\n", io, ib, ao, ab,
                                    2 * snapshot.sample_rate);
  for (const prof::HeapSample* s : samples) {
    absl::StrAppendFormat(&out, "%d: %d [%d: %d] @", s->inuse_objects, s->inuse_bytes,
                          s->alloc_objects, s->alloc_bytes);
    for (std::uintptr_t pc : s->pcs) absl::StrAppendFormat(&out, " %#x", pc);
    out += "\n";
    append_frames(&out, s->pcs);
    out += "\n";
  }
  absl::StrAppendFormat(&out,
                        "\n# syncscope.HeapCounters (exact, from the allocation hooks)\n"
                        "# LiveBytes = %d\n# LiveObjects = %d\n# AllocatedBytes = %d\n"
                        "# AllocatedObjects = %d\n# FreedBytes = %d\n# FreedObjects = %d\n"
                        "# Samples = %d\n# SampleRate = %d\n",
                        counters.live_bytes, counters.live_objects, counters.allocated_bytes,
                        counters.allocated_objects, counters.freed_bytes, counters.freed_objects,
                        counters.samples, snapshot.sample_rate);
  return out;
}

}  // namespace syncscope::http::internal

