// Linearizability of small concurrent histories (Wing & Gong's check).
//
// Each round: 3 threads × 3 operations on 2 keys, started together at a
// common instant. Each operation's invocation and response times come from
// steady_clock. The checker then searches, by brute force, for a sequential
// order that (a) respects real time — if A responded before B was invoked, A
// comes first — and (b) reproduces every observed result when replayed on
// ModelMap. If no such order exists, the map is not linearizable.
//
// A history only tests linearizability if its operations overlapped, so the
// test forces overlap and asserts it happened: the maps run with
// RendezvousHash, a test hook inside every keyed operation (the maps hash the
// key inside the call). In each thread's first operation of a round the hook
// waits, bounded, until every worker has invoked its first operation, so the
// operation's interval contains the others' invocations. Each map must then
// show at least kMinOverlappedPercent of its rounds overlapping; without the
// hook a 2-core machine sees almost none (0 of 2000 in half the runs).
#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <chrono>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "absl/hash/hash.h"

#include "conformance/map_model.h"
#include "conformance/map_types.h"
#include "conformance/test_support.h"

namespace syncscope::map::testing {
namespace {

constexpr int kThreads = 3;
constexpr int kOpsPerThread = 3;
constexpr int kKeys = 2;
// Every round overlaps (the hook), so 1000 give far more overlapping histories
// than the 2000 mostly sequential rounds before it, at half the cost.
const long kRounds = scaled(1000, 250);
// The workers spin until a common start instant this far after the round is
// released, so that they start their operations within nanoseconds of each
// other rather than as each one notices the new round.
constexpr std::int64_t kStartLeadNs = 20'000;

// At least this share of rounds must overlap, per map and per stage. With
// the hook, every stage measured 100% (normal, TSan, ASan: see the commit
// that set it); without it, 0-99% varying run to run, often 0.
constexpr long kMinOverlappedPercent = 50;
// The hook's wait is bounded by count, so a worker the scheduler never runs
// cannot hang the round; it only costs that round its overlap.
constexpr long kRendezvousYields = 100'000;

using Clock = std::chrono::steady_clock;

// The test hook's per-thread state. t_rendezvous: the round's count of
// workers that invoked their first operation, set by the worker for its own
// first operation and cleared by the first hash call in it.
thread_local const std::atomic<int>* t_rendezvous = nullptr;

// The maps' Hash, with the rendezvous in it.
struct RendezvousHash {
  std::size_t operator()(std::int64_t k) const {
    if (const std::atomic<int>* invoked = t_rendezvous) {
      t_rendezvous = nullptr;
      // relaxed: only a count to wait for; the map's own synchronization
      // orders the operations' effects.
      for (long i = 0; i < kRendezvousYields && invoked->load(std::memory_order_relaxed) < kThreads;
           ++i) {
        std::this_thread::yield();
      }
    }
    return absl::Hash<std::int64_t>{}(k);
  }
};

struct Event {
  Op op;
  OpResult result;
  std::int64_t invoke_ns = 0;
  std::int64_t response_ns = 0;
};

using History = std::array<std::array<Event, kOpsPerThread>, kThreads>;

// Depth-first search over the orders allowed by real time. `next[t]` is the
// index of thread t's first operation not yet placed.
class Checker {
 public:
  explicit Checker(const History& h) : h_(h) {}

  bool linearizable(const ModelMap& initial) {
    std::array<int, kThreads> next{};
    return search(initial, next, kThreads * kOpsPerThread);
  }

 private:
  bool search(const ModelMap& model, std::array<int, kThreads>& next, int remaining) {
    if (remaining == 0) return true;
    for (int t = 0; t < kThreads; ++t) {
      if (next[t] == kOpsPerThread) continue;
      const Event& cand = h_[t][next[t]];
      if (!minimal(cand, next, t)) continue;
      ModelMap after = model;
      const OpResult expected = after.apply(cand.op);
      if (!(expected == cand.result)) continue;
      ++next[t];
      const bool ok = search(after, next, remaining - 1);
      --next[t];
      if (ok) return true;
    }
    return false;
  }

  // May `cand` (thread t's first pending op) go next? Not if some other
  // pending op responded before `cand` was invoked. Per thread, the first
  // pending op has the earliest response, so checking it suffices.
  bool minimal(const Event& cand, const std::array<int, kThreads>& next, int t) const {
    for (int u = 0; u < kThreads; ++u) {
      if (u == t || next[u] == kOpsPerThread) continue;
      if (h_[u][next[u]].response_ns < cand.invoke_ns) return false;
    }
    return true;
  }

  const History& h_;
};

std::string format(const History& h, const ModelMap& initial) {
  std::ostringstream out;
  out << "initial:";
  for (const auto& [k, v] : initial.contents()) out << " " << k << "=" << v;
  std::int64_t t0 = h[0][0].invoke_ns;
  for (const auto& th : h) t0 = std::min(t0, th[0].invoke_ns);
  for (int t = 0; t < kThreads; ++t) {
    for (const Event& e : h[t]) {
      out << "\n  T" << t << " [" << e.invoke_ns - t0 << ", " << e.response_ns - t0 << "] ns "
          << describe(e.op) << " -> " << describe(e.result);
    }
  }
  return out.str();
}

bool overlapping(const History& h) {
  for (int t = 0; t < kThreads; ++t)
    for (int u = t + 1; u < kThreads; ++u)
      for (const Event& a : h[t])
        for (const Event& b : h[u])
          if (a.invoke_ns < b.response_ns && b.invoke_ns < a.response_ns) return true;
  return false;
}

// Spins politely: on a machine with fewer cores than spinning threads a
// pure spin would starve the thread being waited for.
void spin_pause() {
  static thread_local unsigned spins = 0;
  if (++spins % 256 == 0) std::this_thread::yield();
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

template <class Family>
class MapLinearizabilityTest : public ::testing::Test {};
TYPED_TEST_SUITE(MapLinearizabilityTest, AllMapFamilies, FamilyName);

TYPED_TEST(MapLinearizabilityTest, SmallHistories_AreLinearizable) {
  using M = typename TypeParam::template Map<Key, Value, RendezvousHash>;
  const std::uint64_t seed = test_seed();
  SCOPED_TRACE(seed_note(seed));
  std::mt19937_64 rng(seed);

  std::unique_ptr<M> map;
  History history;
  // Round hand-off by spinning, not by a blocking barrier: blocked threads
  // wake tens of microseconds apart, spinning ones are already on a core.
  // go_round: the round the workers may run (kStop: exit); written by the
  // main thread after preparing `map` and `history`. finished: workers done
  // with the current round.
  constexpr long kStop = -2;
  std::atomic<long> go_round{-1};
  std::atomic<int> finished{0};
  std::atomic<std::int64_t> start_at{0};
  // Workers that invoked their first operation this round (the hook's count).
  std::atomic<int> first_invoked{0};

  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      long next = 0;
      for (;;) {
        long r;
        // acquire: pairs with the main thread's release store of go_round,
        // publishing the round's map, history and start_at.
        while ((r = go_round.load(std::memory_order_acquire)) < next && r != kStop) spin_pause();
        if (r == kStop) return;
        next = r + 1;
        // relaxed: ordered by the acquire above.
        const std::int64_t go = start_at.load(std::memory_order_relaxed);
        while (now_ns() < go) {
        }
        bool first = true;
        for (Event& e : history[t]) {
          e.invoke_ns = now_ns();
          if (first) {
            // relaxed: a count the hook waits for; publishes nothing.
            first_invoked.fetch_add(1, std::memory_order_relaxed);
            t_rendezvous = &first_invoked;
            first = false;
          }
          e.result = apply_to_map(*map, e.op);
          t_rendezvous = nullptr;  // an operation that did not hash
          e.response_ns = now_ns();
        }
        // release: publishes this thread's events; pairs with the main
        // thread's acquire load of `finished`.
        finished.fetch_add(1, std::memory_order_release);
      }
    });
  }

  OpMix mix;
  mix.key_range = kKeys;
  mix.value_range = 3;
  mix.linearizable_only = true;
  long overlapped_rounds = 0;
  long rounds_run = 0;
  for (long round = 0; round < kRounds; ++round) {
    ++rounds_run;
    map = TypeParam::template make<Key, Value, RendezvousHash>();
    ModelMap initial;
    for (Key k = 0; k < kKeys; ++k) {
      if (rng() % 3 == 0) continue;  // absent
      const Value v = static_cast<Value>(rng() % mix.value_range);
      map->store(k, v);
      initial.set(k, v);
    }
    // Sometimes load enough to promote ReadMostlyMap's dirty map, so rounds
    // start from both the amended and the promoted state.
    if (rng() % 2) {
      for (int i = 0; i < 8; ++i) (void)map->load(i % kKeys);
    }
    for (auto& th : history)
      for (Event& e : th) e = Event{random_op(rng, mix), {}, 0, 0};
    // relaxed: the workers have finished the previous round (acquire below),
    // and go_round's release store publishes these.
    finished.store(0, std::memory_order_relaxed);
    first_invoked.store(0, std::memory_order_relaxed);
    start_at.store(now_ns() + kStartLeadNs, std::memory_order_relaxed);
    go_round.store(round, std::memory_order_release);
    // acquire: pairs with the workers' release increments.
    while (finished.load(std::memory_order_acquire) < kThreads) spin_pause();
    if (overlapping(history)) ++overlapped_rounds;
    // EXPECT + break, not ASSERT: the workers must still be stopped and joined.
    const bool ok = Checker(history).linearizable(initial);
    EXPECT_TRUE(ok) << "round " << round << ": no sequential order explains\n"
                    << format(history, initial);
    if (!ok) break;
  }
  go_round.store(kStop, std::memory_order_release);  // release: see the worker loop
  for (auto& w : workers) w.join();
  std::printf("[ info ] %s: %ld of %ld rounds had overlapping operations\n", TypeParam::kName,
              overlapped_rounds, rounds_run);
  ::testing::Test::RecordProperty("overlapped_rounds", static_cast<int>(overlapped_rounds));
  // A round without overlap is a sequential history, which any map passes.
  EXPECT_GE(overlapped_rounds, rounds_run * kMinOverlappedPercent / 100)
      << TypeParam::kName << ": too few rounds overlapped to test linearizability";
}

// The checker itself must reject a history that no order explains, or the
// test above could not fail.
TEST(LinearizabilityChecker, RejectsStaleRead) {
  History h{};
  std::int64_t t = 0;
  for (int th = 0; th < kThreads; ++th) {
    for (Event& e : h[th]) {
      e.op = Op{OpKind::kLoad, 1, 0, 0, 0};
      e.invoke_ns = t + 1000 * th;
      e.response_ns = t + 1000 * th + 10;
    }
  }
  // T0 stores 5 to key 0 and finishes; later T1 loads key 0 and sees nothing.
  h[0][0].op = Op{OpKind::kStore, 0, 5, 0, 0};
  h[0][0].invoke_ns = 0;
  h[0][0].response_ns = 10;
  h[1][0].op = Op{OpKind::kLoad, 0, 0, 0, 0};
  h[1][0].invoke_ns = 100;
  h[1][0].response_ns = 110;
  ModelMap initial;
  EXPECT_FALSE(Checker(h).linearizable(initial));
  // If the two overlap, the stale read is explained (the load went first).
  h[1][0].invoke_ns = 5;
  EXPECT_TRUE(Checker(h).linearizable(initial));
}

}  // namespace
}  // namespace syncscope::map::testing
