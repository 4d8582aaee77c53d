// The leak detector: one rule for every scenario, fixes included.
//
// Leak = live heap bytes keep growing after warm-up. Concretely, over the
// samples after `warmup_s`: the median of the last window minus the median
// of the first window exceeds the tolerance, max(1 MiB, 10% of the start),
// and the least-squares slope is positive, and the growth is sustained: the
// median of the judged samples' middle third exceeds the first third's, and
// the last third's the middle's, each by a quarter of the tolerance. So a
// step, a cache that fills up to its bound and then stays, or a sawtooth
// around a flat baseline is no leak; growth that stops only in the last
// third cannot be told from a leak that started late (run longer). Windows
// are 10 samples (1 s) or a fifth of the judged samples, whichever is
// smaller; fewer than 4 judged samples give no verdict. The cause sentence is
// built from the other measurements: a pinned reader holding back retired
// memory, the task on the retention path's root thread, the resident task
// groups, the site that grew.
#pragma once

#include "lab_types.h"

namespace syncscope::lab {

Verdict judge(const Diagnosis& d);

// "12.3 MiB", "512 KiB", "87 B".
std::string format_bytes(double bytes);

}  // namespace syncscope::lab
