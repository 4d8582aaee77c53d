// The workloads: every benchmark of Go's src/sync/map_bench_test.go (Go 1.19
// file, plus the Swap / CompareAndSwap / CompareAndDelete family Go 1.20
// added), ported one for one — same key counts, same hit/miss mix, same
// per-operation meaning — so that our ns/op and Go's ns/op measure the same
// work. Go's perG(b, pb, i, m) becomes step(m, i, state): it performs the body
// of one loop iteration for loop counter i and returns how many operations it
// counted (1, as pb.Next() counts; the cache workload counts a chunk).
// Go's b.Fatalf checks become error counts in the thread state.
//
// Plus ReadMostlyCache, the read-mostly cache of the article's table: 99% load
// hits and 1% stores of existing keys, reporting read latency and write
// throughput beside ns/op.
//
// setup(m) runs once on a fresh map before the timed region (Go: bench.setup).
#pragma once

#include <chrono>
#include <cstdint>
#include <tuple>

#include "ops.h"

namespace syncscope::mapbench {

// Per-thread results every workload may fill.
struct ThreadState {
  std::uint64_t errors = 0;         // Go's b.Fatalf conditions that occurred
  Value sink = 0;                   // consumes loaded values so they are not optimized out
  std::uint64_t reads = 0;          // cache workload: loads performed
  std::uint64_t writes = 0;         // cache workload: stores performed
  std::uint64_t timed_reads = 0;    // cache workload: loads inside timed samples
  std::int64_t timed_read_ns = 0;   // cache workload: time spent in those loads
};

namespace workload_internal {

template <class A>
void prime(A& m, Key hits) {
  // Go: LoadOrStore every hit key, then "prime the map to get it into a
  // steady state" with 2*hits loads (this promotes a sync.Map's dirty map).
  Value v = 0;
  for (Key i = 0; i < hits; ++i) m.load_or_store(i, i, v);
  for (Key i = 0; i < hits * 2; ++i) m.load(i % hits, v);
}

}  // namespace workload_internal

template <Key Hits, Key Misses>
struct LoadMostly {
  static constexpr unsigned kNeeds = kLoad | kLoadOrStore;
  using State = ThreadState;
  template <class A>
  static void setup(A& m) { workload_internal::prime(m, Hits); }
  template <class A>
  static int step(A& m, std::int64_t i, State& s) {
    Value v = 0;
    if (m.load(i % (Hits + Misses), v)) s.sink += v;
    return 1;
  }
};
struct LoadMostlyHits : LoadMostly<1023, 1> { static constexpr const char* kName = "LoadMostlyHits"; };
struct LoadMostlyMisses : LoadMostly<1, 1023> { static constexpr const char* kName = "LoadMostlyMisses"; };

struct LoadOrStoreBalanced {
  static constexpr const char* kName = "LoadOrStoreBalanced";
  static constexpr unsigned kNeeds = kLoad | kLoadOrStore;
  static constexpr Key kHits = 128, kMisses = 128;
  using State = ThreadState;
  template <class A>
  static void setup(A& m) { workload_internal::prime(m, kHits); }
  template <class A>
  static int step(A& m, std::int64_t i, State& s) {
    const Key j = i % (kHits + kMisses);
    Value actual = 0;
    if (j < kHits) {
      if (!m.load_or_store(j, i, actual)) ++s.errors;  // Go: "unexpected miss"
    } else if (m.load_or_store(i, i, actual)) {
      ++s.errors;  // Go: "failed to store"
    }
    s.sink += actual;
    return 1;
  }
};

struct LoadOrStoreUnique {
  static constexpr const char* kName = "LoadOrStoreUnique";
  static constexpr unsigned kNeeds = kLoadOrStore;
  using State = ThreadState;
  template <class A>
  static void setup(A&) {}
  template <class A>
  static int step(A& m, std::int64_t i, State& s) {
    Value actual = 0;
    m.load_or_store(i, i, actual);
    s.sink += actual;
    return 1;
  }
};

struct LoadOrStoreCollision {
  static constexpr const char* kName = "LoadOrStoreCollision";
  static constexpr unsigned kNeeds = kLoadOrStore;
  using State = ThreadState;
  template <class A>
  static void setup(A& m) { Value v; m.load_or_store(0, 0, v); }
  template <class A>
  static int step(A& m, std::int64_t, State& s) {
    Value actual = 0;
    m.load_or_store(0, 0, actual);
    s.sink += actual;
    return 1;
  }
};

struct LoadAndDeleteBalanced {
  static constexpr const char* kName = "LoadAndDeleteBalanced";
  static constexpr unsigned kNeeds = kLoad | kLoadOrStore | kLoadAndDelete;
  static constexpr Key kHits = 128, kMisses = 128;
  using State = ThreadState;
  template <class A>
  static void setup(A& m) { workload_internal::prime(m, kHits); }
  template <class A>
  static int step(A& m, std::int64_t i, State& s) {
    const Key j = i % (kHits + kMisses);
    Value v = 0;
    if (j < kHits) {
      m.load_and_delete(j, v);
    } else {
      m.load_and_delete(i, v);
    }
    s.sink += v;
    return 1;
  }
};

struct LoadAndDeleteUnique {
  static constexpr const char* kName = "LoadAndDeleteUnique";
  static constexpr unsigned kNeeds = kLoadAndDelete;
  using State = ThreadState;
  template <class A>
  static void setup(A&) {}
  template <class A>
  static int step(A& m, std::int64_t i, State& s) {
    Value v = 0;
    m.load_and_delete(i, v);
    s.sink += v;
    return 1;
  }
};

struct LoadAndDeleteCollision {
  static constexpr const char* kName = "LoadAndDeleteCollision";
  static constexpr unsigned kNeeds = kLoadOrStore | kLoadAndDelete;
  using State = ThreadState;
  template <class A>
  static void setup(A& m) { Value v; m.load_or_store(0, 0, v); }
  template <class A>
  static int step(A& m, std::int64_t, State& s) {
    Value v = 0;
    m.load_and_delete(0, v);
    s.sink += v;
    return 1;
  }
};

struct Range {
  static constexpr const char* kName = "Range";
  static constexpr unsigned kNeeds = kStore | kRange;
  static constexpr Key kMapSize = 1 << 10;
  using State = ThreadState;
  template <class A>
  static void setup(A& m) {
    for (Key i = 0; i < kMapSize; ++i) m.store(i, i);
  }
  template <class A>
  static int step(A& m, std::int64_t, State& s) {
    m.range([&s](Key, Value v) {
      s.sink += v;
      return true;
    });
    return 1;
  }
};

// Go: "store a new value immediately whenever the map is promoted to clean and
// otherwise load a unique, missing key" — forces sync.Map's Load to the mutex.
struct AdversarialAlloc {
  static constexpr const char* kName = "AdversarialAlloc";
  static constexpr unsigned kNeeds = kLoad | kLoadOrStore;
  struct State : ThreadState {
    std::int64_t stores = 0;
    std::int64_t loads_since_store = 0;
  };
  template <class A>
  static void setup(A&) {}
  template <class A>
  static int step(A& m, std::int64_t i, State& s) {
    Value v = 0;
    if (m.load(i, v)) s.sink += v;
    if (++s.loads_since_store > s.stores) {
      m.load_or_store(i, s.stores, v);
      s.loads_since_store = 0;
      ++s.stores;
    }
    return 1;
  }
};

// Go: "periodically delete one key and add a different one in a large map".
struct AdversarialDelete {
  static constexpr const char* kName = "AdversarialDelete";
  static constexpr unsigned kNeeds = kLoad | kStore | kDelete | kRangeWhileWriting;
  static constexpr Key kMapSize = 1 << 10;
  using State = ThreadState;
  template <class A>
  static void setup(A& m) {
    for (Key i = 0; i < kMapSize; ++i) m.store(i, i);
  }
  template <class A>
  static int step(A& m, std::int64_t i, State& s) {
    Value v = 0;
    if (m.load(i, v)) s.sink += v;
    if (i % kMapSize == 0) {
      m.range([&m](Key k, Value) {
        m.erase(k);
        return false;
      });
      m.store(i, i);
    }
    return 1;
  }
};

struct DeleteCollision {
  static constexpr const char* kName = "DeleteCollision";
  static constexpr unsigned kNeeds = kLoadOrStore | kDelete;
  using State = ThreadState;
  template <class A>
  static void setup(A& m) { Value v; m.load_or_store(0, 0, v); }
  template <class A>
  static int step(A& m, std::int64_t, State&) {
    m.erase(0);
    return 1;
  }
};

// ---- Go 1.20 additions: Swap, CompareAndSwap, CompareAndDelete ----

struct SwapCollision {
  static constexpr const char* kName = "SwapCollision";
  static constexpr unsigned kNeeds = kLoadOrStore | kSwap;
  using State = ThreadState;
  template <class A>
  static void setup(A& m) { Value v; m.load_or_store(0, 0, v); }
  template <class A>
  static int step(A& m, std::int64_t, State& s) {
    Value prev = 0;
    m.swap(0, 0, prev);
    s.sink += prev;
    return 1;
  }
};

template <Key Hits, Key Misses>
struct SwapMostly {
  static constexpr unsigned kNeeds = kLoad | kLoadOrStore | kSwap | kDelete;
  using State = ThreadState;
  template <class A>
  static void setup(A& m) { workload_internal::prime(m, Hits); }
  template <class A>
  static int step(A& m, std::int64_t i, State& s) {
    Value prev = 0;
    if (i % (Hits + Misses) < Hits) {
      const Key v = i % (Hits + Misses);
      m.swap(v, v, prev);
    } else {
      m.swap(i, i, prev);
      m.erase(i);
    }
    s.sink += prev;
    return 1;
  }
};
struct SwapMostlyHits : SwapMostly<1023, 1> { static constexpr const char* kName = "SwapMostlyHits"; };
struct SwapMostlyMisses : SwapMostly<1, 1023> { static constexpr const char* kName = "SwapMostlyMisses"; };

struct CompareAndSwapCollision {
  static constexpr const char* kName = "CompareAndSwapCollision";
  static constexpr unsigned kNeeds = kLoadOrStore | kCompareAndSwap;
  using State = ThreadState;
  template <class A>
  static void setup(A& m) { Value v; m.load_or_store(0, 0, v); }
  template <class A>
  static int step(A& m, std::int64_t, State&) {
    if (m.compare_and_swap(0, 0, 42)) m.compare_and_swap(0, 42, 0);
    return 1;
  }
};

struct CompareAndSwapNoExistingKey {
  static constexpr const char* kName = "CompareAndSwapNoExistingKey";
  static constexpr unsigned kNeeds = kCompareAndSwap | kDelete;
  using State = ThreadState;
  template <class A>
  static void setup(A&) {}
  template <class A>
  static int step(A& m, std::int64_t i, State&) {
    if (m.compare_and_swap(i, 0, 0)) m.erase(i);
    return 1;
  }
};

struct CompareAndSwapValueNotEqual {
  static constexpr const char* kName = "CompareAndSwapValueNotEqual";
  static constexpr unsigned kNeeds = kStore | kCompareAndSwap;
  using State = ThreadState;
  template <class A>
  static void setup(A& m) { m.store(0, 0); }
  template <class A>
  static int step(A& m, std::int64_t, State& s) {
    if (m.compare_and_swap(0, 1, 2)) ++s.errors;  // the value is 0, never 1
    return 1;
  }
};

template <Key Hits, Key Misses>
struct CompareAndSwapMostly {
  static constexpr unsigned kNeeds = kLoad | kLoadOrStore | kCompareAndSwap;
  using State = ThreadState;
  template <class A>
  static void setup(A& m) { workload_internal::prime(m, Hits); }
  template <class A>
  static int step(A& m, std::int64_t i, State&) {
    Key v = i;
    if (i % (Hits + Misses) < Hits) v = i % (Hits + Misses);
    m.compare_and_swap(v, v, v);
    return 1;
  }
};
struct CompareAndSwapMostlyHits : CompareAndSwapMostly<1023, 1> {
  static constexpr const char* kName = "CompareAndSwapMostlyHits";
};
struct CompareAndSwapMostlyMisses : CompareAndSwapMostly<1, 1023> {
  static constexpr const char* kName = "CompareAndSwapMostlyMisses";
};

struct CompareAndDeleteCollision {
  static constexpr const char* kName = "CompareAndDeleteCollision";
  static constexpr unsigned kNeeds = kLoadOrStore | kStore | kCompareAndDelete;
  using State = ThreadState;
  template <class A>
  static void setup(A& m) { Value v; m.load_or_store(0, 0, v); }
  template <class A>
  static int step(A& m, std::int64_t, State&) {
    if (m.compare_and_delete(0, 0)) m.store(0, 0);
    return 1;
  }
};

template <Key Hits, Key Misses>
struct CompareAndDeleteMostly {
  static constexpr unsigned kNeeds = kLoad | kLoadOrStore | kStore | kCompareAndDelete;
  using State = ThreadState;
  template <class A>
  static void setup(A& m) { workload_internal::prime(m, Hits); }
  template <class A>
  static int step(A& m, std::int64_t i, State&) {
    Key v = i;
    if (i % (Hits + Misses) < Hits) v = i % (Hits + Misses);
    if (m.compare_and_delete(v, v)) m.store(v, v);
    return 1;
  }
};
struct CompareAndDeleteMostlyHits : CompareAndDeleteMostly<1023, 1> {
  static constexpr const char* kName = "CompareAndDeleteMostlyHits";
};
struct CompareAndDeleteMostlyMisses : CompareAndDeleteMostly<1, 1023> {
  static constexpr const char* kName = "CompareAndDeleteMostlyMisses";
};

// ---- The article's read-mostly cache ----
//
// 1024 keys, all present. Each step is a chunk of 100 operations on
// consecutive keys: 99 loads (all hits) then 1 store of an existing key.
// Every 16th chunk times its 99 loads with the steady clock (two clock reads
// per 1584 loads), giving read latency without timing every load.
struct ReadMostlyCache {
  static constexpr const char* kName = "ReadMostlyCache";
  static constexpr unsigned kNeeds = kLoad | kLoadOrStore | kStore;
  static constexpr Key kKeys = 1 << 10;
  static constexpr int kChunk = 100;       // operations per step: 99 loads + 1 store
  static constexpr int kSampleEvery = 16;  // chunks between timed chunks
  struct State : ThreadState {
    int chunks = 0;
  };
  template <class A>
  static void setup(A& m) { workload_internal::prime(m, kKeys); }
  template <class A>
  static int step(A& m, std::int64_t i, State& s) {
    const bool timed = (++s.chunks % kSampleEvery) == 0;
    std::chrono::steady_clock::time_point t0;
    if (timed) t0 = std::chrono::steady_clock::now();
    for (int j = 0; j < kChunk - 1; ++j) {
      Value v = 0;
      if (m.load((i + j) % kKeys, v)) {
        s.sink += v;
      } else {
        ++s.errors;  // every key is present: a miss is a bug
      }
    }
    if (timed) {
      s.timed_read_ns += (std::chrono::steady_clock::now() - t0).count();
      s.timed_reads += kChunk - 1;
    }
    m.store((i + kChunk - 1) % kKeys, i);
    s.reads += kChunk - 1;
    s.writes += 1;
    return kChunk;
  }
};

using AllWorkloads =
    std::tuple<LoadMostlyHits, LoadMostlyMisses, LoadOrStoreBalanced, LoadOrStoreUnique,
               LoadOrStoreCollision, LoadAndDeleteBalanced, LoadAndDeleteUnique,
               LoadAndDeleteCollision, Range, AdversarialAlloc, AdversarialDelete, DeleteCollision,
               SwapCollision, SwapMostlyHits, SwapMostlyMisses, CompareAndSwapCollision,
               CompareAndSwapNoExistingKey, CompareAndSwapValueNotEqual, CompareAndSwapMostlyHits,
               CompareAndSwapMostlyMisses, CompareAndDeleteCollision, CompareAndDeleteMostlyHits,
               CompareAndDeleteMostlyMisses, ReadMostlyCache>;
inline constexpr std::size_t kNumWorkloads = std::tuple_size_v<AllWorkloads>;

}  // namespace syncscope::mapbench
