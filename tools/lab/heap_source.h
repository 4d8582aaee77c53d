// Where the lab's heap figures come from: the allocation hooks' exact
// live-byte counter, the sampled heap profile and its top sites. Should the
// hooks not be installed: glibc's mallinfo2() in-use bytes, and no heap
// profile (reported as unavailable, never invented).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "lab_types.h"
#include "syncscope/prof/untracked_scope.h"

namespace syncscope::lab::heap {

// Starts sampling (mean `sample_rate` bytes between samples) and, with
// `exact`, exact mode (every live block tracked with its site, for the
// retention scan; without it the scan walks glibc's heap). Call once, early.
void init(std::int64_t sample_rate, bool exact);

// While one is alive, the calling thread's allocations are the lab's own
// (diagnosis, reports, heap samples): kept out of the heap profile's sites
// and the retention scan, so reports show the workload's sites only. They
// still count in live_bytes().
using OwnMemoryScope = syncscope::prof::UntrackedScope;

// Live heap bytes now.
std::uint64_t live_bytes();
// What live_bytes() measures, for reports.
std::string source_name();
bool have_profiles();

// Writes the gzipped pprof heap profile.
absl::Status write_profile(const std::string& path);

// Allocation sites by estimated live bytes, largest first ("function
// file:line"). Empty without the allocation hooks.
std::vector<SiteBytes> top_sites(std::size_t n);

// Sites whose live bytes grew from `before` to `after` (both from
// top_sites), largest growth first, at most n.
std::vector<SiteBytes> grown_sites(const std::vector<SiteBytes>& before,
                                   const std::vector<SiteBytes>& after, std::size_t n);

}  // namespace syncscope::lab::heap
