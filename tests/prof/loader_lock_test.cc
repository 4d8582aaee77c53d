// Regression: allocations made while the dynamic loader's lock is held (inside
// a dl_iterate_phdr callback) must not deadlock against stack capture in
// other threads. libunwind's default global cache holds its mutex across
// dl_iterate_phdr, and our hook unwinds inside an allocation, so a callback
// that allocates (loader lock -> libunwind mutex) and a fresh thread whose
// first unwind misses the cache (libunwind mutex -> loader lock) used to wait
// on each other forever.
//
// The workload runs in a forked child with a deadline: a hang fails the test
// with a message instead of hanging ctest. Bounded by iteration count.
#include <gtest/gtest.h>
#include <link.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/live_blocks.h"

namespace syncscope::prof {
namespace {

constexpr int kIterateRounds = 4000;   // dl_iterate_phdr calls with allocating callbacks
constexpr int kThreadBatches = 150;    // fresh threads (empty unwind caches) ...
constexpr int kThreadsPerBatch = 8;    // ... started per batch
constexpr int kDeadlineSeconds = 90;   // a healthy run takes about a second

int allocate_per_module(dl_phdr_info* info, std::size_t, void* data) {
  auto* names = static_cast<std::vector<std::string>*>(data);
  // A heap string (> SSO) per module: an allocation under the loader lock.
  names->push_back(std::string(info->dlpi_name != nullptr ? info->dlpi_name : "") +
                   std::string(32, 'x'));
  return 0;
}

__attribute__((noinline)) void allocate_in_fresh_thread(int depth) {
  if (depth > 0) return allocate_in_fresh_thread(depth - 1);
  auto block = std::make_unique<std::vector<int>>(64, depth);
  asm volatile("" : : "r"(block.get()) : "memory");
}

int run_workload() {
  HeapProfiler::set_exact_mode(true);
  std::atomic<bool> done{false};
  std::thread iterator([&] {
    for (int i = 0; i < kIterateRounds && !done.load(std::memory_order_relaxed); ++i) {
      std::vector<std::string> names;
      dl_iterate_phdr(allocate_per_module, &names);
    }
  });
  for (int b = 0; b < kThreadBatches; ++b) {
    std::vector<std::thread> batch;
    for (int t = 0; t < kThreadsPerBatch; ++t) batch.emplace_back([t] { allocate_in_fresh_thread(t % 4); });
    for (auto& th : batch) th.join();
  }
  done.store(true, std::memory_order_relaxed);  // relaxed: a stop flag, joined below
  iterator.join();
  return 0;
}

TEST(LoaderLock, AllocationsUnderLoaderLockDoNotDeadlockWithStackCapture) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) _exit(run_workload());
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kDeadlineSeconds);
  pid_t got = 0;
  while ((got = waitpid(child, &status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (got == 0) {
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    FAIL() << "the workload did not finish within " << kDeadlineSeconds
           << " s: allocation under the loader lock deadlocked with stack capture";
  }
  ASSERT_EQ(got, child);
  ASSERT_TRUE(WIFEXITED(status)) << "the workload died from signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace syncscope::prof
