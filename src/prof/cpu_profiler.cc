// profile_cpu(): one CPU-profiling session. The calling thread arms the
// timers, drains the handler's slots every 10..50 ms (unwinding each copied
// stack and counting identical stacks), rescans /proc/self/task every
// kThreadRescan, and builds the pprof profile at the end.
#include "syncscope/prof/cpu_profiler.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "prof/cpu_sampler.h"
#include "syncscope/prof/profile_builder.h"
#include "syncscope/prof/stack_trace.h"
#include "syncscope/prof/task_labels.h"

namespace syncscope::prof {
namespace {

using Clock = std::chrono::steady_clock;

// Drain interval: long when few slots filled since the last drain (fewer
// wake-ups: the profiler's own cost), short when many did (no slot runs out).
constexpr std::chrono::milliseconds kDrainSlowest{50};
constexpr std::chrono::milliseconds kDrainFastest{10};
constexpr std::chrono::milliseconds kThreadRescan{100};

// True while a session runs; one session per process.
std::atomic<bool> g_busy{false};

struct BusyGuard {
  // acq_rel: the previous session's writes to the sampler happen before ours;
  // pairs with the release in the destructor.
  bool acquired = !g_busy.exchange(true, std::memory_order_acq_rel);
  ~BusyGuard() {
    if (acquired) g_busy.store(false, std::memory_order_release);  // release: see above
  }
};

// The sampler's state lives as long as the process (sessions are serialized
// by g_busy); too large for a stack.
internal::CpuSampler& sampler() {
  static internal::CpuSampler* s = new internal::CpuSampler();
  return *s;
}

// Caches unwind rules across samples (flushed when each session starts).
internal::StackUnwinder* unwinder() {
  static internal::StackUnwinder* u = internal::create_stack_unwinder(/*cache_unwind_info=*/true);
  return u;
}

// Stacks counted so far: (task label, pcs innermost first with the leaf as
// interrupted pc+1 so that every entry reads as a return address) ->
// expirations.
using StackCounts = std::map<std::pair<std::uint32_t, std::vector<std::uintptr_t>>, std::int64_t>;

// Returns the number of slots drained.
std::size_t drain_into(StackCounts& counts, std::uint64_t& samples) {
  std::size_t drained = 0;
  sampler().drain([&](const internal::CpuSlot& slot) {
    ++drained;
    std::uintptr_t pcs[kMaxStackDepth];
    const int n = internal::unwind_stack_copy(slot.copy, slot.stack, pcs, nullptr, kMaxStackDepth,
                                              unwinder());
    std::vector<std::uintptr_t> key;
    if (n > 0) {
      key.assign(pcs, pcs + n);
      // The profile builder symbolizes pc-1 (a return address's call); the
      // leaf is the interrupted instruction itself, so hand it over as +1.
      key[0] += 1;
    }
    counts[{slot.task_label, std::move(key)}] += slot.weight;
    samples += slot.weight;
  });
  return drained;
}

std::string build_profile(const StackCounts& counts, long period_ns, std::int64_t start_unix_ns,
                          std::int64_t duration_ns, std::uint64_t lost) {
  ProfileBuilder b({{"samples", "count"}, {"cpu", "nanoseconds"}}, {"cpu", "nanoseconds"},
                   period_ns, "cpu");
  b.set_time_nanos(start_unix_ns);
  b.set_duration_nanos(duration_ns);
  b.add_comment("syncscope CPU profile: per-thread CPU-time timers, period " +
                std::to_string(period_ns) + " ns");
  const NamedFrame unknown[] = {{"[unknown stack]", "", 0}};
  for (const auto& [key, count] : counts) {
    const auto& [label, pcs] = key;
    const std::int64_t values[] = {count, count * period_ns};
    const std::vector<SampleLabel> labels = task_sample_labels(label);
    if (pcs.empty()) {
      b.add_named_sample(unknown, values, labels);
    } else {
      b.add_sample(pcs, values, labels);
    }
  }
  if (lost > 0) {
    // Go records dropped samples as a "lost profile events" frame.
    const NamedFrame lost_frame[] = {{"runtime/pprof.lostProfileEvent", "", 0}};
    const std::int64_t values[] = {static_cast<std::int64_t>(lost),
                                   static_cast<std::int64_t>(lost) * period_ns};
    b.add_named_sample(lost_frame, values);
  }
  return b.serialize_gzipped();
}

CpuProfileResult refuse(CpuProfileStatus status, std::string message) {
  CpuProfileResult r;
  r.status = status;
  r.message = std::move(message);
  return r;
}

}  // namespace

CpuProfileResult profile_cpu(const CpuProfileOptions& options) {
  if (options.hz < 1 || options.hz > kMaxCpuProfileHz) {
    return refuse(CpuProfileStatus::kInvalidArgument,
                  "hz must be between 1 and " + std::to_string(kMaxCpuProfileHz));
  }
  if (options.duration.count() <= 0) {
    return refuse(CpuProfileStatus::kInvalidArgument, "duration must be positive");
  }
  BusyGuard busy;
  if (!busy.acquired) return refuse(CpuProfileStatus::kBusy, "cpu profiling already in use");
  const long period_ns = 1'000'000'000L / options.hz;
  internal::CpuSampler& s = sampler();
  internal::flush_unwind_cache(unwinder());  // created before sampling: it allocates
  switch (s.start(period_ns)) {
    case internal::CpuStartError::kNone: break;
    case internal::CpuStartError::kSignalInUse:
      return refuse(CpuProfileStatus::kSignalInUse,
                    "the program has its own SIGPROF handler; left untouched");
    case internal::CpuStartError::kTimerInUse:
      return refuse(CpuProfileStatus::kTimerInUse,
                    "the program runs ITIMER_PROF (setitimer); left untouched");
    case internal::CpuStartError::kNoMemory:
      return refuse(CpuProfileStatus::kUnavailable, "cannot map the sample buffer");
  }
  const std::uint64_t lost_before = s.lost();
  const auto start = Clock::now();
  const std::int64_t start_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count();
  int failed = 0;
  s.arm_new_threads(&failed);
  if (s.threads() == 0) {
    s.stop();
    s.restore();
    return refuse(CpuProfileStatus::kUnavailable, "the kernel refused every CPU timer");
  }
  StackCounts counts;
  std::uint64_t samples = 0;
  const auto deadline = start + options.duration;
  auto next_rescan = start + kThreadRescan;
  std::chrono::milliseconds drain_every = kDrainFastest;
  for (auto now = Clock::now(); now < deadline; now = Clock::now()) {
    if (options.cancelled && options.cancelled()) break;
    const auto wait = std::min<Clock::duration>(drain_every, deadline - now);
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
    struct timespec ts {static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    ::nanosleep(&ts, nullptr);  // EINTR (our own SIGPROF) just drains earlier
    const std::size_t drained = drain_into(counts, samples);
    if (drained > internal::kCpuSlots / 4) {
      drain_every = kDrainFastest;
    } else if (drained < internal::kCpuSlots / 16) {
      drain_every = std::min(drain_every * 2, kDrainSlowest);
    }
    if (Clock::now() >= next_rescan) {
      s.arm_new_threads(&failed);
      next_rescan += kThreadRescan;
    }
  }
  s.stop();
  drain_into(counts, samples);
  CpuProfileResult r;
  r.handler_restored = s.restore();
  r.samples = samples;
  r.lost = s.lost() - lost_before;
  r.threads = s.threads();
  const std::int64_t duration_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
  r.profile = build_profile(counts, period_ns, start_unix_ns, duration_ns, r.lost);
  return r;
}

}  // namespace syncscope::prof
