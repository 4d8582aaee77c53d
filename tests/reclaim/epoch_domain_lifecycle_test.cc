// Thread exit, fork() and a failing membarrier(2): the edges of a thread's
// and a process's life that the epoch domain must survive without leaking a
// record, leaving an epoch stuck, or silently losing its ordering proof.
// Tests of a hang or a crash run in a forked child with a deadline.
#include <linux/membarrier.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "reclaim/epoch_domain_test_seam.h"
#include "support/forked_child.h"
#include "syncscope/reclaim/epoch_domain.h"

namespace syncscope::reclaim {
namespace {

using test_support::run_in_child;

EpochDomain& domain() { return EpochDomain::global(); }

std::atomic<int> g_freed{0};
struct Counted {
  ~Counted() { g_freed.fetch_add(1, std::memory_order_relaxed); }  // relaxed: a counter
};

// A thread_local whose destructor uses the domain. It is constructed before
// the thread first pins, so C++ destroys it after the domain's own
// thread-local bookkeeping (destructors run in reverse order of construction).
struct PinsAtThreadExit {
  PinsAtThreadExit() = default;
  ~PinsAtThreadExit() {
    auto guard = domain().pin();
    domain().retire(new Counted, nullptr);
  }
};

TEST(EpochDomainLifecycle, ThreadLocalDestructorThatPins_ReleasesItsRecord) {
  // 200 short threads whose last act (a thread_local destructor) pins: each
  // must give its record back, so the next thread reuses it.
  domain().drain();
  const ThreadRecordCount before = domain().thread_records();
  constexpr int kThreads = 200;
  for (int i = 0; i < kThreads; ++i) {
    std::thread([] {
      thread_local PinsAtThreadExit at_exit;
      (void)&at_exit;                     // constructed first...
      { auto guard = domain().pin(); }    // ...then the thread registers
    }).join();
  }
  const ThreadRecordCount after = domain().thread_records();
  EXPECT_EQ(after.in_use, before.in_use) << "records claimed at thread exit were never released";
  EXPECT_LE(after.total, before.total + 2) << "each short thread left a record behind";
  // The objects they retired on the way out are freed as orphans.
  EXPECT_EQ(domain().drain().objects, 0u);
}

// A thread pinned at the moment another thread forks: the child has no such
// thread, so its record must not keep the child's epoch from advancing.
TEST(EpochDomainLifecycle, ThreadPinnedAtFork_DoesNotStallTheChild) {
  std::mutex mu;
  std::condition_variable cv;
  bool pinned = false, leave = false;
  std::thread reader([&] {
    auto guard = domain().pin();
    std::unique_lock lk(mu);
    pinned = true;
    cv.notify_all();
    cv.wait(lk, [&] { return leave; });
  });
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return pinned; });
  }
  const auto out = run_in_child(
      [] {
        g_freed = 0;
        for (int i = 0; i < 10; ++i) domain().retire(new Counted, nullptr);
        const Backlog left = domain().drain();
        if (left.objects != 0 || g_freed.load() != 10) {
          std::fprintf(stderr, "child: %llu objects held back by a thread that does not exist\n",
                       static_cast<unsigned long long>(left.objects));
          return 1;
        }
        return domain().pinned_readers().empty() ? 0 : 2;
      },
      std::chrono::seconds(20));
  {
    std::lock_guard lk(mu);
    leave = true;
  }
  cv.notify_all();
  reader.join();
  EXPECT_TRUE(out.exited_with(0)) << out.describe();
  domain().drain();
}

// Once readers use compiler-only fences, a membarrier(2) that fails must not
// be replaced by a local fence (it pairs with nothing on the readers' side):
// the process stops with a message instead.
#if defined(SYNCSCOPE_TSAN)
// TSan cannot model the membarrier protocol, so its builds use seq_cst
// read-modify-writes instead: there is no membarrier that could fail.
TEST(EpochDomainLifecycle, TsanBuild_UsesNoMembarrier) { EXPECT_FALSE(domain().uses_asymmetric_fences()); }
#else
long failing_membarrier(int) noexcept {
  errno = EPERM;  // as a seccomp filter installed after registration would
  return -1;
}

TEST(EpochDomainLifecycle, MembarrierFailureAfterRegistration_AbortsWithMessage) {
  if (!domain().uses_asymmetric_fences()) {
    GTEST_SKIP() << "membarrier(2) is not in use here (old kernel or symmetric mode)";
  }
  const auto out = run_in_child(
      [] {
        internal::set_membarrier_for_testing(failing_membarrier);
        for (int i = 0; i < 4; ++i) domain().retire(new Counted, nullptr);
        domain().drain();  // advances the epoch: needs the barrier
        return 0;          // reached only if the failure went unnoticed
      },
      std::chrono::seconds(20));
  EXPECT_TRUE(out.killed_by(SIGABRT)) << out.describe();
}
#endif

}  // namespace
}  // namespace syncscope::reclaim
