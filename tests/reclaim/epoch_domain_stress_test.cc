// Readers dereference a shared pointer under pins while writers replace and
// retire it. A freed-then-read object shows as a poisoned payload (and as a
// use-after-free under ASan, a race under TSan). Bounded by iteration count.
#include <gtest/gtest.h>

#include <atomic>
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

  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r) {
    threads.emplace_back([&] {
      std::uint64_t last = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        auto guard = d.pin();
        Node* n = shared.load(std::memory_order_acquire);
        if (n->magic != kMagic) bad.fetch_add(1);
        last = n->version;
      }
      (void)last;
    });
  }
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
  for (std::size_t i = 3; i < threads.size(); ++i) threads[i].join();
  const std::uint64_t retired = 2ull * kWriterIterations;
  freed_during_run = retired - d.backlog().objects;
  stop = true;
  for (int i = 0; i < 3; ++i) threads[i].join();
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
}

}  // namespace
}  // namespace syncscope::reclaim
