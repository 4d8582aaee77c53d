// prof::sampled_live_blocks(): a sorted copy of the sampled heap's live blocks.
#include <algorithm>
#include <vector>

#include "prof/sampled_heap.h"
#include "syncscope/prof/live_blocks.h"

namespace syncscope::prof {

std::vector<LiveBlock> sampled_live_blocks() {
  // Blocks sampled between sizing and copying are left out: a copy is a
  // moment's view anyway. Headroom keeps that rare.
  std::vector<LiveBlock> out(internal::SampledHeap::instance().live_count() + 1024);
  out.resize(internal::SampledHeap::instance().copy_live_blocks(out.data(), out.size()));
  std::sort(out.begin(), out.end(), [](const LiveBlock& a, const LiveBlock& b) { return a.address < b.address; });
  return out;
}

}  // namespace syncscope::prof
