#include "syncscope/reclaim/epoch_domain.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <thread>

namespace syncscope::reclaim {
namespace {

std::atomic<int> g_deleted{0};

struct Tracked {
  int payload[8] = {};
  ~Tracked() { g_deleted.fetch_add(1, std::memory_order_relaxed); }
};

EpochDomain& domain() { return EpochDomain::global(); }

class EpochDomainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    domain().drain();
    g_deleted = 0;
  }
};

TEST_F(EpochDomainTest, Drain_FreesEverythingWhenNoReaderIsPinned) {
  ReclaimAccount* account = ReclaimAccount::create();
  for (int i = 0; i < 10; ++i) domain().retire(new Tracked, account);
  EXPECT_EQ(account->backlog().objects, 10u);
  EXPECT_EQ(account->backlog().bytes, 10 * sizeof(Tracked));
  const Backlog left = domain().drain();
  EXPECT_EQ(left.objects, 0u);
  EXPECT_EQ(g_deleted.load(), 10);
  EXPECT_EQ(account->backlog().objects, 0u);
  account->release();
}

TEST_F(EpochDomainTest, PinnedReader_HoldsBackLaterRetires_AndIsReported) {
  std::latch pinned(1);
  std::latch leave(1);
  std::atomic<int> reader_tid{0};
  std::thread reader([&] {
    reader_tid = static_cast<int>(gettid());
    auto guard = domain().pin();
    pinned.count_down();
    leave.wait();
  });
  pinned.wait();
  for (int i = 0; i < 5; ++i) domain().retire(new Tracked, nullptr);
  const Backlog held = domain().drain();
  EXPECT_EQ(held.objects, 5u) << "a pinned reader must keep later retires alive";
  EXPECT_EQ(g_deleted.load(), 0);

  auto readers = domain().pinned_readers();
  ASSERT_EQ(readers.size(), 1u);
  EXPECT_EQ(readers[0].tid, reader_tid.load());
  EXPECT_GE(readers[0].held_back.objects, 5u);
  EXPECT_FALSE(readers[0].thread_name.empty());

  leave.count_down();
  reader.join();
  EXPECT_EQ(domain().drain().objects, 0u);
  EXPECT_EQ(g_deleted.load(), 5);
  EXPECT_TRUE(domain().pinned_readers().empty());
}

TEST_F(EpochDomainTest, PinnedFor_GrowsWhileTheSamePinLasts) {
  std::latch pinned(1);
  std::latch leave(1);
  std::thread reader([&] {
    auto guard = domain().pin();
    pinned.count_down();
    leave.wait();
  });
  pinned.wait();
  auto first = domain().pinned_readers();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  auto second = domain().pinned_readers();
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_GT(second[0].pinned_for, first[0].pinned_for);
  EXPECT_TRUE(domain().pinned_readers(std::chrono::hours(1)).empty()) << "min_age filters";
  leave.count_down();
  reader.join();
}

TEST_F(EpochDomainTest, NestedPins_UnpinOnlyAtTheOutermostGuard) {
  std::latch inner_done(1);
  std::latch leave(1);
  std::thread reader([&] {
    auto outer = domain().pin();
    { auto inner = domain().pin(); }
    inner_done.count_down();
    leave.wait();
  });
  inner_done.wait();
  EXPECT_EQ(domain().pinned_readers().size(), 1u) << "still pinned by the outer guard";
  leave.count_down();
  reader.join();
  EXPECT_TRUE(domain().pinned_readers().empty());
}

TEST_F(EpochDomainTest, ExitedThreadsRetiredObjects_AreFreedAsOrphans) {
  std::thread writer([] {
    for (int i = 0; i < 7; ++i) domain().retire(new Tracked, nullptr);
  });
  writer.join();
  EXPECT_EQ(domain().drain().objects, 0u);
  EXPECT_EQ(g_deleted.load(), 7);
}

TEST_F(EpochDomainTest, RetireBatches_FreeWithoutExplicitDrain) {
  // Every kReclaimBatch retires on a thread advance the epoch once; objects
  // are freed three advances after their retire, so the backlog stays
  // within about four batches however many objects are retired.
  for (std::size_t i = 0; i < 16 * EpochDomain::kReclaimBatch; ++i) {
    domain().retire(new Tracked, nullptr);
  }
  EXPECT_GE(g_deleted.load(), static_cast<int>(8 * EpochDomain::kReclaimBatch));
  EXPECT_LE(domain().backlog().objects, 4 * EpochDomain::kReclaimBatch);
}

TEST_F(EpochDomainTest, SlowRetires_AreFreedAfterAboutAnInterval_NotAfterABatch) {
  // A thread that retires in small groups with pauses longer than
  // kReclaimInterval: far fewer than kReclaimBatch objects in all, so the
  // count trigger alone frees none of them. The clock check at each group's
  // end advances the epoch once per group, so every group but the last few
  // (kGrace = 3 advances) is freed while the thread goes on retiring.
  constexpr std::size_t kGroups = 12;
  constexpr std::size_t kGroup = EpochDomain::kClockCheckEvery;
  static_assert(kGroups * kGroup < EpochDomain::kReclaimBatch, "the count trigger must not fire");
  const auto pause = EpochDomain::kReclaimInterval + std::chrono::milliseconds(5);
  for (std::size_t g = 0; g < kGroups; ++g) {
    for (std::size_t i = 0; i < kGroup; ++i) domain().retire(new Tracked, nullptr);
    std::this_thread::sleep_for(pause);  // time passing is what is under test
  }
  EXPECT_GE(g_deleted.load(), static_cast<int>((kGroups - 5) * kGroup));
  EXPECT_LE(domain().backlog().objects, 5 * kGroup);
}

TEST_F(EpochDomainTest, AccountOutlivesItsOwner_WhileObjectsAreRetired) {
  ReclaimAccount* account = ReclaimAccount::create();
  domain().retire(new Tracked, account);
  account->release();  // owner gone; the retired object still holds a reference
  EXPECT_EQ(domain().drain().objects, 0u);
  EXPECT_EQ(g_deleted.load(), 1);
}

}  // namespace
}  // namespace syncscope::reclaim
