// Readers dereference a shared pointer under pins while writers replace and
// retire it. A freed-then-read object shows as a poisoned payload (and as a
// use-after-free under ASan, a race under TSan). Bounded by iteration count.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "syncscope/reclaim/epoch_domain.h"

namespace syncscope::reclaim {
namespace {

constexpr std::uint64_t kMagic = 0x5eed5eed5eed5eedull;

struct Node {
  std::uint64_t magic = kMagic;
  std::uint64_t version = 0;
  ~Node() { magic = 0xdeadull; }
};

#if defined(SYNCSCOPE_TSAN) || defined(SYNCSCOPE_ASAN)
constexpr int kWriterIterations = 20000;
#else
constexpr int kWriterIterations = 200000;
#endif

TEST(EpochDomainStress, ReadersNeverSeeFreedNodes_AndMemoryStaysBounded) {
  EpochDomain& d = EpochDomain::global();
  d.drain();
  std::atomic<Node*> shared{new Node};
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> bad{0};
  std::atomic<std::uint64_t> freed_during_run{0};
  std::atomic<std::uint64_t> max_backlog{0};

  // Overlap evidence: every reader has read once before the writers start,
  // and each reader counts the versions it saw change under it (relaxed:
  // counters read after the joins; readers_ready is only polled).
  constexpr int kReaders = 3;
  std::atomic<int> readers_ready{0};
  std::atomic<int> readers_seeing_writes{0};  // readers that saw at least 2 version changes
  std::atomic<std::uint64_t> version_changes{0};

  std::vector<std::thread> threads;
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&] {
      std::uint64_t last = 0, changes = 0;
      bool first = true;
      while (!stop.load(std::memory_order_relaxed)) {
        auto guard = d.pin();
        Node* n = shared.load(std::memory_order_acquire);
        if (n->magic != kMagic) bad.fetch_add(1);
        if (!first && n->version != last) ++changes;
        if (first) readers_ready.fetch_add(1, std::memory_order_relaxed);
        first = false;
        last = n->version;
      }
      version_changes.fetch_add(changes, std::memory_order_relaxed);
      if (changes >= 2) readers_seeing_writes.fetch_add(1, std::memory_order_relaxed);
    });
  }
  while (readers_ready.load(std::memory_order_relaxed) < kReaders) std::this_thread::yield();
  for (int w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kWriterIterations; ++i) {
        Node* fresh = new Node;
        fresh->version = static_cast<std::uint64_t>(i) * 2 + w;
        Node* old = shared.exchange(fresh, std::memory_order_acq_rel);
        d.retire(old, nullptr);
        if (i % 256 == 0) {
          // relaxed (both): a statistic, printed after the joins.
          const std::uint64_t b = d.backlog().objects;
          std::uint64_t seen = max_backlog.load(std::memory_order_relaxed);
          while (b > seen && !max_backlog.compare_exchange_weak(seen, b, std::memory_order_relaxed)) {
          }
        }
      }
    });
  }
  for (std::size_t i = kReaders; i < threads.size(); ++i) threads[i].join();
  const std::uint64_t retired = 2ull * kWriterIterations;
  freed_during_run = retired - d.backlog().objects;
  stop = true;
  for (int i = 0; i < kReaders; ++i) threads[i].join();
  delete shared.load();
  // The documented bound (epoch_domain.h): with no reader pinned, a thread's
  // backlog stays around 3 x kReclaimBatch, and the exited writers' objects
  // go to the orphan list the next reclaim frees. Retiring a few batches
  // from this thread, without drain(), must bring the whole process's
  // backlog under that bound.
  constexpr std::size_t kBound = 4 * EpochDomain::kReclaimBatch;
  for (std::size_t i = 0; i < kBound; ++i) d.retire(new Node, nullptr);
  const std::uint64_t backlog_after_readers_left = d.backlog().objects;
  std::printf("[ info ] backlog: at most %llu objects while readers pinned (of %llu retired), "
              "%llu once they left\n",
              static_cast<unsigned long long>(max_backlog.load()),
              static_cast<unsigned long long>(retired),
              static_cast<unsigned long long>(backlog_after_readers_left));
  EXPECT_LE(backlog_after_readers_left, kBound);
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_EQ(d.drain().objects, 0u);
  // Reclamation keeps running while readers pin continuously. How far it
  // lags then depends on scheduling: a reader preempted inside its pin holds
  // the epoch for a time slice (measured on 2 cores: 200-315 thousand of the
  // 400 thousand retired objects waiting at the peak), which is why the bound
  // above is checked once the readers have left.
  EXPECT_GT(freed_during_run.load(), 0u);
  // The readers read while the writers replaced and retired: each saw the
  // pointer change under it (a reader that ran before or after the writers
  // sees one version only).
  std::printf("[ info ] readers saw %llu version changes\n",
              static_cast<unsigned long long>(version_changes.load()));
  EXPECT_EQ(readers_seeing_writes.load(), kReaders) << "a reader never overlapped the writers";
}

}  // namespace
}  // namespace syncscope::reclaim
