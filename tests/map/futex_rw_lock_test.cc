// FutexRwLock, the lock-based maps' reader-writer lock: writer preference
// (the property glibc's default rwlock lacks), the contention hook the
// mutex profile listens on, and mutual exclusion with no lost wake-up when
// more threads than cores wait (so waiters sleep on the futex, not only
// spin). The maps' own suites (tests/conformance/) run LockedMap,
// ShardedMap and PooledShardedMap over it.
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <cstdint>
#include <latch>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "conformance/test_support.h"
#include "support/forked_child.h"
#include "syncscope/map/internal/futex_rw_lock.h"
#include "syncscope/map/lock_contention.h"

namespace syncscope::map {
namespace {

using internal::FutexRwLock;
using testing::scaled;

// The lock under test. Aliased to std::shared_mutex (glibc's rwlock, the
// lock-based maps' lock before FutexRwLock), WaitingWriter_HoldsBackNewReaders
// and ContendedLock_ReportsItsWaitToTheListener fail: new readers overtake
// the waiting writer.
using LockUnderTest = FutexRwLock;

// Polls until a new reader is refused, which happens once `writer` waits;
// false if that did not happen within `limit` (a lock without writer
// preference never refuses). Each refused or admitted try leaves the lock
// as it was.
bool wait_until_readers_held_back(LockUnderTest& lock, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!lock.try_lock_shared()) return true;
    lock.unlock_shared();
    std::this_thread::yield();
  }
  return false;
}

// A reader holds the lock; a writer then waits for it. From then on a new
// reader must be refused until the writer has had its turn, so a stream of
// readers cannot starve writers. Exit codes: 1 new readers were still
// admitted, 2 the writer ran while the reader held the lock, 3 readers
// stayed refused after the writer left.
TEST(FutexRwLock, WaitingWriter_HoldsBackNewReaders) {
  const auto outcome = test_support::run_in_child(
      [] {
        LockUnderTest lock;
        lock.lock_shared();  // the reader the writer waits for
        std::atomic<bool> writer_done{false};
        std::thread writer([&] {
          lock.lock();
          writer_done.store(true);
          lock.unlock();
        });
        const bool held_back = wait_until_readers_held_back(lock, std::chrono::seconds(10));
        const bool early = writer_done.load();
        lock.unlock_shared();
        writer.join();
        if (!held_back) return 1;
        if (early || !writer_done.load()) return 2;
        if (!lock.try_lock_shared()) return 3;
        lock.unlock_shared();
        return 0;
      },
      std::chrono::seconds(60));
  EXPECT_TRUE(outcome.exited_with(0)) << outcome.describe();
}

std::atomic<int> g_reports{0};
std::atomic<std::int64_t> g_longest_wait_ns{0};

void record_wait(std::int64_t wait_ns) noexcept {
  // relaxed: test counters, read after the threads are joined.
  g_reports.fetch_add(1, std::memory_order_relaxed);
  std::int64_t prev = g_longest_wait_ns.load(std::memory_order_relaxed);
  while (prev < wait_ns &&
         !g_longest_wait_ns.compare_exchange_weak(prev, wait_ns, std::memory_order_relaxed)) {
  }
}

// A writer that had to wait reports its wait to the contention listener
// (what /debug/pprof/mutex shows) exactly once; an uncontended acquisition
// reports nothing. Exit codes: 1 an uncontended lock() was reported, 2 the
// writer never waited, 3 the wait was not reported exactly once, 4 a
// reported wait of zero.
TEST(FutexRwLock, ContendedLock_ReportsItsWaitToTheListener) {
  const auto outcome = test_support::run_in_child(
      [] {
        set_lock_contention_listener(&record_wait);
        LockUnderTest lock;
        lock.lock();
        lock.unlock();
        if (g_reports.load() != 0) return 1;
        lock.lock_shared();
        std::thread writer([&] {
          lock.lock();  // waits for the reader: contended
          lock.unlock();
        });
        // The writer waits once new readers are refused (writer preference).
        const bool writer_waits = wait_until_readers_held_back(lock, std::chrono::seconds(10));
        lock.unlock_shared();
        writer.join();
        if (!writer_waits) return 2;
        if (g_reports.load() != 1) return 3;
        return g_longest_wait_ns.load() > 0 ? 0 : 4;
      },
      std::chrono::seconds(60));
  EXPECT_TRUE(outcome.exited_with(0)) << outcome.describe();
}

// The scheduler's view of thread `tid` of this process: 'R' running,
// 'S' asleep (a futex wait shows as 'S'); '?' if it cannot be read.
char thread_state(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/stat");
  std::string line;
  std::getline(in, line);
  const std::size_t close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return '?';
  return line[close + 2];
}

// Polls (bounded) until thread `tid` sleeps: a waiter that spent its spin.
bool wait_until_asleep(const std::atomic<pid_t>& tid, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    // acquire: pairs with the waiter's release store of its id.
    const pid_t t = tid.load(std::memory_order_acquire);
    if (t != 0 && thread_state(t) == 'S') return true;
    std::this_thread::yield();
  }
  return false;
}

pid_t current_tid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// A writer that waited long enough to sleep on the futex is woken by the
// last reader's unlock_shared(), not left asleep (the child's deadline
// catches a lost wake-up). Exit codes: 1 the writer never slept, 2 it ran
// while the reader held the lock.
TEST(FutexRwLock, SleepingWriter_IsWokenByTheLastReader) {
  const auto outcome = test_support::run_in_child(
      [] {
        LockUnderTest lock;
        std::atomic<pid_t> writer_tid{0};
        std::atomic<bool> writer_in{false};
        lock.lock_shared();
        std::thread writer([&] {
          // release: pairs with the acquire load in wait_until_asleep.
          writer_tid.store(current_tid(), std::memory_order_release);
          lock.lock();
          writer_in.store(true);
          lock.unlock();
        });
        const bool slept = wait_until_asleep(writer_tid, std::chrono::seconds(20));
        const bool early = writer_in.load();
        lock.unlock_shared();  // must wake the sleeping writer
        writer.join();
        if (!slept) return 1;
        if (early) return 2;
        return writer_in.load() ? 0 : 3;
      },
      std::chrono::seconds(60));
  EXPECT_TRUE(outcome.exited_with(0)) << outcome.describe();
}

// A reader asleep behind a writer is woken by the writer's unlock().
// Exit codes: 1 the reader never slept, 2 it ran while the writer held
// the lock.
TEST(FutexRwLock, SleepingReader_IsWokenByTheWriter) {
  const auto outcome = test_support::run_in_child(
      [] {
        LockUnderTest lock;
        std::atomic<pid_t> reader_tid{0};
        std::atomic<bool> reader_in{false};
        lock.lock();
        std::thread reader([&] {
          // release: pairs with the acquire load in wait_until_asleep.
          reader_tid.store(current_tid(), std::memory_order_release);
          lock.lock_shared();
          reader_in.store(true);
          lock.unlock_shared();
        });
        const bool slept = wait_until_asleep(reader_tid, std::chrono::seconds(20));
        const bool early = reader_in.load();
        lock.unlock();  // must wake the sleeping reader
        reader.join();
        if (!slept) return 1;
        if (early) return 2;
        return reader_in.load() ? 0 : 3;
      },
      std::chrono::seconds(60));
  EXPECT_TRUE(outcome.exited_with(0)) << outcome.describe();
}

// Four threads (more than this machine's cores, so waiters exhaust their
// spin and sleep on the futex) mix exclusive and shared acquisitions, each
// at least a fixed number of times and then until a wait has been seen. A
// writer updates two plain fields together; a reader must never see them
// differ, and the final count must be exact. A lost wake-up hangs a
// waiter: the child's deadline turns that into a failure.
TEST(FutexRwLock, ManyWaiters_ExcludeEachOtherAndAllWake) {
  const auto outcome = test_support::run_in_child(
      [] {
        constexpr int kThreads = 4;
        const long iterations = scaled(200'000, 2'000);
        LockUnderTest lock;
        std::int64_t a = 0;  // guarded by lock
        std::int64_t b = 0;  // guarded by lock; equals a outside a write section
        std::atomic<long> torn{0};
        std::atomic<long> writes{0};
        g_reports = 0;
        set_lock_contention_listener(&record_wait);
        std::latch start(kThreads);
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t) {
          threads.emplace_back([&, t] {
            start.arrive_and_wait();
            // At least `iterations` rounds, then on until some wait has
            // been reported (a short sanitizer run can finish before the
            // threads ever overlap), up to the deadline.
            const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
            const auto keep_going = [&](long i) {
              if (i < iterations) return true;
              if (g_reports.load(std::memory_order_relaxed) != 0) return false;  // relaxed: a hint
              return i % 256 != 0 || std::chrono::steady_clock::now() < give_up;
            };
            for (long i = 0; keep_going(i); ++i) {
              if ((i + t) % 4 == 0) {
                std::unique_lock lk(lock);
                ++a;
                // Now and then a writer gives its core away while it holds
                // the lock: waiters then spend their spin and sleep.
                if (i % 256 == 0) std::this_thread::yield();
                ++b;
                // relaxed: counted, read after join.
                writes.fetch_add(1, std::memory_order_relaxed);
              } else {
                std::shared_lock lk(lock);
                // relaxed: counted, read after join.
                if (a != b) torn.fetch_add(1, std::memory_order_relaxed);
              }
            }
          });
        }
        for (std::thread& th : threads) th.join();
        set_lock_contention_listener(nullptr);
        const int contended = g_reports.load();
        if (torn.load() != 0) return 1;
        if (a != writes.load() || b != a) return 2;
        if (contended == 0) return 3;  // no overlap: the test proved nothing
        return 0;
      },
      std::chrono::seconds(60));
  EXPECT_TRUE(outcome.exited_with(0))
      << outcome.describe()
      << " (1: a reader saw a half-done write; 2: lost updates; 3: the threads never contended)";
}

}  // namespace
}  // namespace syncscope::map
