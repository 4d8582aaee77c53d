// The thread dump's signal against the loader lock, the pending-signal limit
// and the host program's own handlers (issue 13 items 5, 6; issue 14 item
// 2). Each case runs in a forked child with a deadline.
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "support/forked_child.h"
#include "support/signal_workloads.h"
#include "syncscope/task/thread_dump.h"
#include "task/symbolize_util.h"

namespace syncscope::task {
namespace {

using namespace std::chrono_literals;
using namespace test_support;

constexpr auto kChildDeadline = 30s;

// Item 5: handlers unwound with libunwind and waited for the loader lock
// another thread held; the dump then waited for those handlers without
// bound.
TEST(ThreadDumpSignals, ThreadHoldingLoaderLock_EveryStackCaptured) {
  const auto out = run_in_child(
      [] {
        // Runnable threads: the dump must signal them (threads blocked in
        // a system call are read without a signal).
        Sleepers spinners(3, Sleepers::kSpin);
        LoaderLockHolder holder;
        const std::vector<ThreadStack> dump = dump_all_threads({.timeout = 3000ms});
        int bad = 0;
        for (const ThreadStack& t : dump) {
          if (t.status != CaptureStatus::kOk || t.pcs.size() < 2) {
            std::fprintf(stderr, "tid %d: %s, %zu frames\n", t.tid, to_string(t.status), t.pcs.size());
            ++bad;
          }
        }
        holder.release();
        return dump.size() == 5 && bad == 0 ? 0 : 1;  // 3 sleepers, the holder, the caller
      },
      kChildDeadline);
  EXPECT_TRUE(out.exited_with(0)) << out.describe();
}

// Item 6: a send refused at the per-user pending-signal limit is reported
// as its own status.
TEST(ThreadDumpSignals, PendingSignalLimitReached_ReportedAsQueueFull) {
  const auto out = run_in_child(
      [] {
        if (!lower_pending_limit(2)) return 10;
        Sleepers spinners(2, Sleepers::kSpin);  // running: only a signal reaches them
        const FullSignalQueue full(SIGRTMIN + 1);
        int queue_full = 0;
        for (const ThreadStack& t : dump_all_threads({.timeout = 1000ms})) {
          if (t.is_caller) continue;
          if (std::string(to_string(t.status)) == "signal queue full") ++queue_full;
          else std::fprintf(stderr, "tid %d: %s\n", t.tid, to_string(t.status));
        }
        return queue_full >= 2 ? 0 : 1;
      },
      kChildDeadline);
  EXPECT_TRUE(out.exited_with(0)) << out.describe();
}

// Issue 14 item 2: a dump made poll and nanosleep return EINTR in every
// thread. Threads blocked in a system call are now read from outside.
std::atomic<int> g_eintr{0};
__attribute__((noinline)) void polling_thread(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    if (::poll(nullptr, 0, 5000) < 0 && errno == EINTR) g_eintr.fetch_add(1);
  }
  asm volatile("" ::: "memory");
}
__attribute__((noinline)) void napping_thread(const std::atomic<bool>& stop) {
  while (!stop.load()) {
    timespec ts{5, 0};
    if (::nanosleep(&ts, nullptr) != 0 && errno == EINTR) g_eintr.fetch_add(1);
  }
  asm volatile("" ::: "memory");
}

TEST(ThreadDumpSignals, ThreadsInPollAndNanosleep_NotInterrupted_StacksStillShown) {
  const auto out = run_in_child(
      [] {
        std::atomic<bool> stop{false};
        std::atomic<pid_t> poller{0}, napper{0};
        std::thread a([&] { poller.store(gettid_now()); polling_thread(stop); });
        std::thread b([&] { napper.store(gettid_now()); napping_thread(stop); });
        while (poller.load() == 0 || napper.load() == 0) std::this_thread::sleep_for(1ms);
        std::this_thread::sleep_for(20ms);  // both inside their calls
        int shown = 0;
        for (int i = 0; i < 10; ++i) {
          for (const ThreadStack& t : dump_all_threads({.timeout = 2000ms})) {
            if (t.tid != poller.load() && t.tid != napper.load()) continue;
            const char* want = t.tid == poller.load() ? "polling_thread" : "napping_thread";
            for (const auto& f : internal::resolve(t.pcs, true))
              if (f.function.find(want) != std::string::npos) ++shown;
          }
        }
        const int eintr = g_eintr.load();
        stop.store(true);
        // Wake both (a signal of the test's own, handled) so they see `stop`.
        struct sigaction sa {};
        sa.sa_handler = [](int) {};
        ::sigaction(SIGUSR1, &sa, nullptr);
        ::pthread_kill(a.native_handle(), SIGUSR1);
        ::pthread_kill(b.native_handle(), SIGUSR1);
        a.join();
        b.join();
        if (eintr != 0) {
          std::fprintf(stderr, "%d EINTR over 10 dumps\n", eintr);
          return 1;
        }
        return shown == 20 ? 0 : 2;
      },
      kChildDeadline);
  EXPECT_TRUE(out.exited_with(0)) << out.describe();
}

// Issue 14 item 2: the first dump replaced the program's handler of the
// dump signal for good (signals of the program were lost).
TEST(ThreadDumpSignals, ProgramHandlerOnDumpSignal_ReceivesAllItsSignals) {
  const auto out = run_in_child(
      [] {
        return program_handler_keeps_its_signals(thread_dump_signal(), "dumps",
                                                 [](int) { (void)dump_all_threads({.timeout = 1000ms}); });
      },
      kChildDeadline);
  EXPECT_TRUE(out.exited_with(0)) << out.describe();
}

// Issue 14 item 2: a dump leaves every real-time signal's disposition as it
// found it.
TEST(ThreadDumpSignals, Dump_RestoresEveryDisposition) {
  const auto out = run_in_child(
      [] {
        return dispositions_kept_over_rounds([] {
          for (const ThreadStack& t : dump_all_threads({.timeout = 1000ms}))
            if (t.status != CaptureStatus::kOk) return false;
          return true;
        });
      },
      kChildDeadline);
  EXPECT_TRUE(out.exited_with(0)) << out.describe();
}

}  // namespace
}  // namespace syncscope::task
