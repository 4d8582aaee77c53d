#include "scenarios.h"

#include "bounded_journal.h"
#include "cache_service.h"
#include "stalled_reader.h"
#include "three_level.h"
#include "warming_cache.h"

namespace syncscope::lab {

const std::vector<ScenarioSpec>& scenarios() {
  static const std::vector<ScenarioSpec> kAll = {
      {"range-spawn", "range() spawns a task per entry that captures the value; some replies never come",
       "A cache (ReadMostlyMap of shared_ptr<const CacheValue>) is refreshed continuously. A sweeper ranges "
       "over it and, per entry, spawns a task that captures the shared_ptr and waits for a backend reply. "
       "A few replies never come, so those tasks wait forever and keep replaced values alive.",
       [] { return std::make_unique<CacheService>(SweepStyle::kCaptureValue); }},
      {"three-level", "map -> struct -> vector -> pointer: one held pointer keeps a whole chain alive",
       "A catalog maps keys to Wrappers whose vector points at Payloads. A long-lived audit task keeps, per "
       "wrapper version, an aliasing shared_ptr to its first payload; it shares ownership of the whole "
       "wrapper, so every replaced wrapper, its vector and all its payloads stay alive.",
       [] { return std::make_unique<ThreeLevel>(); }},
      {"stalled-reader", "a range callback blocks inside the read-side protection",
       "An exporter ranges over a session map and waits for an export slot inside the callback. range() "
       "holds an epoch pin for the whole call, so values replaced meanwhile are retired but never freed.",
       [] { return std::make_unique<StalledReader>(); }},
      {"fix-copy", "fix #1: copy what the task needs inside the callback",
       "range-spawn's workload, but each task captures only the key and the value's digest. Tasks whose "
       "reply never comes still wait, but they hold no value.",
       [] { return std::make_unique<CacheService>(SweepStyle::kCopyFields); }},
      {"fix-load", "fix #2: iterate keys, load each value outside range() when needed",
       "range-spawn's workload, but range() only collects keys; each task loads the current value by key "
       "after its reply and drops it at once.",
       [] { return std::make_unique<CacheService>(SweepStyle::kLoadByKey); }},
      {"fix-pool", "fix #3: a bounded worker pool with per-task deadlines",
       "range-spawn's capturing task, run on a bounded executor whose deadline cancels a wait that takes "
       "too long, which releases the captured value.",
       [] { return std::make_unique<CacheService>(SweepStyle::kBoundedPool); }},
      {"warm-cache", "control: a cache that warms up, then plateaus",
       "A cache fills one key at a time up to its capacity, then only replaces values. Replaced values die: "
       "the heap climbs while warming and then stays flat.",
       [] { return std::make_unique<WarmingCache>(); }, true},
      {"three-level-copied", "control: three-level's chain, the audit copies what it needs",
       "three-level's catalog and writer, but the audit recorder copies each version's payload id and size "
       "instead of keeping a pointer into the wrapper, so replaced wrappers die.",
       [] { return std::make_unique<ThreeLevel>(ThreeLevelParams{.hold_pointer = false}); }, true},
      {"stalled-reader-unpins", "control: the exporter waits inside range() with a deadline",
       "stalled-reader's sessions and writer, but the exporter's slot wait inside the callback gives up after "
       "100 ms, so the range ends, the pin is released and the retired values are freed.",
       [] { return std::make_unique<StalledReader>(StalledReaderParams{
            .stall_for = std::chrono::milliseconds(100), .counter_updates_per_write = 40}); },
       true},
      {"bounded-growth", "control: a journal that grows past the tolerance, then stops at its bound",
       "A recorder appends 64 KiB records to an in-memory journal at about 4 MiB/s until it holds 150, then "
       "replaces the oldest. Growth continues after warm-up but ends at the bound.",
       [] { return std::make_unique<BoundedJournal>(); }, true},
  };
  return kAll;
}

const ScenarioSpec* find_scenario(std::string_view name) {
  for (const ScenarioSpec& s : scenarios()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace syncscope::lab
