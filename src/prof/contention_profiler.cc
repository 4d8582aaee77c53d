// Contention profiles (mutex, block): sampling knobs, the per-kind stack
// table, and the pprof / Go-text writers. See contention_profiler.h.
#include "syncscope/prof/contention_profiler.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "common/annotated_mutex.h"
#include "syncscope/prof/profile_builder.h"
#include "syncscope/prof/stack_trace.h"
#include "syncscope/prof/symbolizer.h"
#include "syncscope/prof/task_labels.h"

namespace syncscope::prof {
namespace {

struct Totals {
  std::int64_t count = 0;
  std::int64_t delay_ns = 0;
};

struct Table {
  common::Mutex mu;
  // (task label, stack) -> totals; at most kMaxContentionStacks.
  std::map<std::pair<std::uint32_t, std::vector<std::uintptr_t>>, Totals> stacks ABSL_GUARDED_BY(mu);
  std::atomic<std::uint64_t> overflow{0};  // events of new stacks dropped when full; relaxed counter
};

Table& table(ContentionKind kind) {
  static Table* tables = new Table[2];  // never destroyed: recorded from any thread until exit
  return tables[kind == ContentionKind::kMutex ? 0 : 1];
}

// The knobs; read with relaxed loads on the hot path (they publish nothing:
// a recorder that sees an old rate records or skips one event more).
std::atomic<int> g_mutex_fraction{0};
std::atomic<std::int64_t> g_block_rate_ns{0};

void read_environment_once() {
  static const bool done = [] {
    if (const char* v = std::getenv("SYNCSCOPE_MUTEX_PROFILE_FRACTION")) {
      g_mutex_fraction.store(std::max(0, std::atoi(v)), std::memory_order_relaxed);  // relaxed: see above
    }
    if (const char* v = std::getenv("SYNCSCOPE_BLOCK_PROFILE_RATE")) {
      g_block_rate_ns.store(std::max<std::int64_t>(0, std::atoll(v)), std::memory_order_relaxed);  // relaxed: see above
    }
    return true;
  }();
  (void)done;
}

// xorshift64*, per thread: sampling decisions only.
std::uint64_t next_random() {
  thread_local std::uint64_t state = 0;
  if (state == 0) state = reinterpret_cast<std::uintptr_t>(&state) * 0x9E3779B97F4A7C15ull | 1;
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1Dull;
}

// Frames of the recorder itself and of the lock wrapper's slow path that
// every event would share; kept (pprof folds them) except this function's.
constexpr int kSkipFrames = 1;

}  // namespace

int set_mutex_profile_fraction(int rate) noexcept {
  read_environment_once();
  // relaxed: a knob; see g_mutex_fraction.
  if (rate < 0) return g_mutex_fraction.load(std::memory_order_relaxed);
  return g_mutex_fraction.exchange(rate, std::memory_order_relaxed);
}

std::int64_t set_block_profile_rate(std::int64_t rate_ns) noexcept {
  read_environment_once();
  // relaxed: a knob; see g_block_rate_ns.
  if (rate_ns < 0) return g_block_rate_ns.load(std::memory_order_relaxed);
  return g_block_rate_ns.exchange(rate_ns, std::memory_order_relaxed);
}

bool contention_profiling_on(ContentionKind kind) noexcept {
  read_environment_once();
  // relaxed: a knob; see g_mutex_fraction.
  return kind == ContentionKind::kMutex ? g_mutex_fraction.load(std::memory_order_relaxed) > 0
                                        : g_block_rate_ns.load(std::memory_order_relaxed) > 0;
}

__attribute__((noinline)) void record_contention(ContentionKind kind, std::int64_t delay_ns) noexcept {
  if (delay_ns <= 0) return;
  Totals add;
  if (kind == ContentionKind::kMutex) {
    const int rate = g_mutex_fraction.load(std::memory_order_relaxed);  // relaxed: a knob
    if (rate <= 0 || (rate > 1 && next_random() % static_cast<std::uint64_t>(rate) != 0)) return;
    add = {rate, delay_ns * rate};
  } else {
    const std::int64_t rate = g_block_rate_ns.load(std::memory_order_relaxed);  // relaxed: a knob
    if (rate <= 0) return;
    if (delay_ns >= rate) {
      add = {1, delay_ns};
    } else {
      // Kept with probability delay/rate; weighted by rate/delay.
      if (static_cast<std::int64_t>(next_random() % static_cast<std::uint64_t>(rate)) >= delay_ns) return;
      add = {std::max<std::int64_t>(1, rate / delay_ns), rate};
    }
  }
  std::uintptr_t pcs[kMaxStackDepth];
  const int n = capture_stack(pcs, kMaxStackDepth, kSkipFrames);
  const std::uint32_t label = this_thread_task_label();
  Table& t = table(kind);
  try {
    common::MutexLock lock(t.mu);
    std::pair<std::uint32_t, std::vector<std::uintptr_t>> key{label, {pcs, pcs + std::max(n, 0)}};
    auto it = t.stacks.find(key);
    if (it == t.stacks.end()) {
      if (t.stacks.size() >= kMaxContentionStacks) {
        t.overflow.fetch_add(1, std::memory_order_relaxed);  // relaxed: a counter
        return;
      }
      it = t.stacks.emplace(std::move(key), Totals{}).first;
    }
    it->second.count += add.count;
    it->second.delay_ns += add.delay_ns;
  } catch (...) {
    // relaxed: a counter. Out of memory: the event is counted, not recorded.
    t.overflow.fetch_add(1, std::memory_order_relaxed);
  }
}

std::vector<ContentionRecord> contention_records(ContentionKind kind) {
  Table& t = table(kind);
  std::vector<ContentionRecord> out;
  common::MutexLock lock(t.mu);
  out.reserve(t.stacks.size());
  for (const auto& [key, totals] : t.stacks) out.push_back({key.first, key.second, totals.count, totals.delay_ns});
  return out;
}

std::uint64_t contention_overflow(ContentionKind kind) noexcept {
  return table(kind).overflow.load(std::memory_order_relaxed);  // relaxed: a counter
}

std::string contention_profile(ContentionKind kind, const std::vector<ContentionRecord>* base) {
  std::vector<ContentionRecord> now = contention_records(kind);
  if (base != nullptr) {
    std::map<std::pair<std::uint32_t, std::vector<std::uintptr_t>>, const ContentionRecord*> before;
    for (const ContentionRecord& r : *base) before.emplace(std::make_pair(r.task_label, r.pcs), &r);
    for (ContentionRecord& r : now) {
      auto it = before.find({r.task_label, r.pcs});
      if (it == before.end()) continue;
      r.count -= it->second->count;
      r.delay_ns -= it->second->delay_ns;
    }
    std::erase_if(now, [](const ContentionRecord& r) { return r.count == 0 && r.delay_ns == 0; });
  }
  ProfileBuilder b({{"contentions", "count"}, {"delay", "nanoseconds"}}, {"contentions", "count"}, 1,
                   "delay");
  b.add_comment(kind == ContentionKind::kMutex
                    ? "syncscope mutex profile: waits for map locks, charged to the waiting stack"
                    : "syncscope block profile: task waits (tasks API), charged to the waiting stack");
  const NamedFrame unknown[] = {{"[unknown stack]", "", 0}};
  for (const ContentionRecord& r : now) {
    const std::int64_t values[] = {r.count, r.delay_ns};
    const std::vector<SampleLabel> labels = task_sample_labels(r.task_label);
    if (r.pcs.empty()) {
      b.add_named_sample(unknown, values, labels);
    } else {
      b.add_sample(r.pcs, values, labels);
    }
  }
  return b.serialize_gzipped();
}

std::string contention_profile_text(ContentionKind kind) {
  std::vector<ContentionRecord> records = contention_records(kind);
  std::sort(records.begin(), records.end(),
            [](const ContentionRecord& a, const ContentionRecord& b) { return a.delay_ns > b.delay_ns; });
  const bool mutex = kind == ContentionKind::kMutex;
  const std::int64_t period = mutex ? set_mutex_profile_fraction(-1) : set_block_profile_rate(-1);
  // Go's headers; delays are nanoseconds, so one "cycle" is one nanosecond.
  std::string out = mutex ? "--- mutex:\n" : "--- contention:\n";
  out += "cycles/second=1000000000\n";
  char line[128];
  if (mutex) {
    std::snprintf(line, sizeof line, "sampling period=%" PRId64 "\n", period);
    out += line;
  }
  for (const ContentionRecord& r : records) {
    std::snprintf(line, sizeof line, "%" PRId64 " %" PRId64 " @", r.delay_ns, r.count);
    out += line;
    for (std::uintptr_t pc : r.pcs) {
      std::snprintf(line, sizeof line, " %#" PRIxPTR, pc);
      out += line;
    }
    out += "\n";
    for (std::uintptr_t pc : r.pcs) {
      // Return addresses point after the call; pc-1 names the call's line.
      for (const SymbolFrame& f : Symbolizer::instance().symbolize(pc - 1)) {
        out += "#\t";
        std::snprintf(line, sizeof line, "%#" PRIxPTR, pc);
        out += line;
        out += "\t" + f.function + "\t" + f.file + ":" + std::to_string(f.line) + "\n";
      }
    }
    out += "\n";
  }
  return out;
}

}  // namespace syncscope::prof
