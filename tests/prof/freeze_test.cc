// LiveBlockTable::freeze() against the rest of the process (issue 13, items 1
// and 2): the dynamic loader's lock, fork(), a hook that never leaves its
// busy section, and the sampled heap's lock. Each workload runs in a forked child with a deadline, so a
// hang fails the test with a message instead of hanging ctest.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <link.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "prof/sampled_heap.h"
#include "prof/thread_state.h"
#include "support/forked_child.h"
#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/live_blocks.h"

namespace syncscope::prof {
namespace {

using std::chrono::milliseconds;
using test_support::run_in_child;

constexpr milliseconds kChildDeadline{10000};  // healthy runs take well under a second

// Polls `flag` (acquire: pairs with the setter's release) for at most `limit`.
bool wait_for(const std::atomic<bool>& flag, milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!flag.load(std::memory_order_acquire)) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// Whether thread `tid` of this process is blocked in futex() (how a thread
// waits for the loader lock). Reads /proc with raw syscalls: no allocation,
// so the caller may run while the loader lock is held elsewhere.
bool blocked_in_futex(pid_t tid) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/syscall", static_cast<int>(tid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[32] = {};
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  return n > 0 && std::strncmp(buf, "202 ", 4) == 0;  // SYS_futex on x86-64
}

// Opaque to the optimizer, so a malloc/free pair is not elided.
__attribute__((noipa)) void* call_malloc(std::size_t n) { return std::malloc(n); }
__attribute__((noipa)) void call_free(void* p) { std::free(p); }

__attribute__((noinline)) void allocate_with_a_new_stack(int depth) {
  if (depth > 0) return allocate_with_a_new_stack(depth - 1);
  auto block = std::make_unique<std::vector<int>>(64, depth);
  asm volatile("" : : "r"(block.get()) : "memory");
}

struct LoaderLockScene {
  std::atomic<bool> holding{false};      // the holder is inside dl_iterate_phdr's callback
  std::atomic<bool> holder_go{false};    // the holder may allocate (under the loader lock)
  std::atomic<pid_t> allocator_tid{0};
  std::atomic<bool> allocator_go{false};
  std::atomic<bool> freezer_go{false};
  std::atomic<bool> frozen{false};       // freeze() returned
  std::atomic<bool> freeze_ok{false};
};

int hold_loader_lock_then_allocate(dl_phdr_info*, std::size_t, void* data) {
  auto* scene = static_cast<LoaderLockScene*>(data);
  scene->holding.store(true, std::memory_order_release);  // release: pairs with wait_for
  wait_for(scene->holder_go, milliseconds(10000));
  // An allocation under the loader lock (what our symbolizer's module
  // callback does): with the table frozen it waits in the hook until thaw.
  call_free(call_malloc(200));
  return 1;  // one module is enough
}

// Thread A allocates and its stack capture waits for the loader lock, held
// by thread B inside a dl_iterate_phdr callback; thread F freezes the table
// and allocates while frozen; then B allocates. Before the fix A waited for
// the loader lock inside its busy section, F waited for A, and B waited for
// F's thaw: the whole process hung.
int loader_lock_against_freeze() {
  LiveBlockTable& table = LiveBlockTable::instance();
  HeapProfiler::set_exact_mode(true);
  LoaderLockScene scene;
  // Every thread is created before the loader lock is taken: from then on the
  // main thread allocates nothing (its own stack capture would wait for B).
  std::thread allocator([&] {
    scene.allocator_tid.store(static_cast<pid_t>(syscall(SYS_gettid)), std::memory_order_release);
    wait_for(scene.allocator_go, milliseconds(10000));
    allocate_with_a_new_stack(5);  // a fresh thread: its unwind cache is empty
  });
  std::thread freezer([&] {
    wait_for(scene.freezer_go, milliseconds(10000));
    // release (both): pair with the main thread's wait_for.
    scene.freeze_ok.store(table.freeze(), std::memory_order_release);
    scene.frozen.store(true, std::memory_order_release);
    allocate_with_a_new_stack(7);  // the freezer's own allocation must not unwind either
    std::this_thread::sleep_for(milliseconds(50));
    table.thaw();
  });
  std::thread holder([&] { dl_iterate_phdr(hold_loader_lock_then_allocate, &scene); });
  wait_for(scene.holding, milliseconds(10000));
  // release: pairs with the allocator's wait_for.
  scene.allocator_go.store(true, std::memory_order_release);
  pid_t tid = 0;
  // acquire: pairs with the allocator's release of its tid.
  for (int i = 0; i < 2000 && (tid = scene.allocator_tid.load(std::memory_order_acquire)) == 0; ++i) {
    usleep(1000);
  }
  for (int i = 0; i < 2000 && !blocked_in_futex(tid); ++i) usleep(1000);
  scene.freezer_go.store(true, std::memory_order_release);  // release: as above
  wait_for(scene.frozen, milliseconds(5000));
  scene.holder_go.store(true, std::memory_order_release);  // release: as above
  holder.join();
  allocator.join();
  freezer.join();
  HeapProfiler::set_exact_mode(false);
  return scene.freeze_ok.load(std::memory_order_acquire) ? 0 : 2;  // acquire: joined anyway
}

TEST(LiveBlockTableFreeze, StackCaptureWaitingForLoaderLock_DoesNotHoldUpFreeze) {
  const auto out = run_in_child(loader_lock_against_freeze, kChildDeadline);
  EXPECT_TRUE(out.exited_with(0))
      << out.describe() << " (2: freeze() gave up waiting for a hook)";
}

// fork() by another thread while the table is frozen: the child's first
// allocation waited for a thaw that no thread of the child would ever do.
int fork_while_another_thread_freezes() {
  LiveBlockTable& table = LiveBlockTable::instance();
  HeapProfiler::set_exact_mode(true);
  std::atomic<bool> frozen{false};
  std::atomic<bool> release{false};
  std::thread freezer([&] {
    table.freeze();
    frozen.store(true, std::memory_order_release);  // release: pairs with wait_for
    wait_for(release, milliseconds(15000));
    table.thaw();
  });
  wait_for(frozen, milliseconds(5000));
  const auto child = run_in_child(
      [&] {
        void* tracked = call_malloc(123);  // recorded: the child's table is not frozen
        if (!table.freeze()) return 4;     // nothing of the parent's holds the child's freeze up
        const LiveBlock* b = table.find_containing(reinterpret_cast<std::uintptr_t>(tracked));
        const bool listed = b != nullptr && b->size == 123;
        table.thaw();
        call_free(tracked);
        return listed ? 0 : 5;
      },
      milliseconds(5000));
  release.store(true, std::memory_order_release);  // release: pairs with wait_for
  freezer.join();
  HeapProfiler::set_exact_mode(false);
  if (child.timed_out) return 3;
  return child.exited_with(0) ? 0 : 6;
}

TEST(LiveBlockTableFreeze, ForkWhileAnotherThreadFreezes_ChildAllocatesAndFreezes) {
  const auto out = run_in_child(fork_while_another_thread_freezes, kChildDeadline);
  EXPECT_TRUE(out.exited_with(0))
      << out.describe() << " (3: the fork child hung on its first allocation)";
}

// A hook that never leaves its busy section (a stopped thread, simulated by
// raising a slot's count): freeze() gives up after its timeout, returns
// false with an empty snapshot, and leaves the table thawed.
int freeze_with_a_stuck_hook() {
  LiveBlockTable& table = LiveBlockTable::instance();
  HeapProfiler::set_exact_mode(true);
  void* tracked = call_malloc(64);
  internal::CounterSlot& stuck = internal::counter_slots()[internal::kCounterSlots - 1];
  stuck.busy.fetch_add(1, std::memory_order_seq_cst);  // seq_cst: as a hook does
  const bool frozen = table.freeze(milliseconds(100));
  const std::size_t listed = table.block_count();
  stuck.busy.fetch_sub(1, std::memory_order_seq_cst);  // seq_cst: as a hook does
  table.thaw();  // idempotent after a failed freeze
  call_free(tracked);  // would wait forever if the failed freeze left the table frozen
  call_free(call_malloc(64));
  const bool now = table.freeze();
  table.thaw();
  HeapProfiler::set_exact_mode(false);
  if (frozen) return 2;
  if (listed != 0) return 3;
  return now ? 0 : 4;
}

TEST(LiveBlockTableFreeze, HookStuckInBusySection_FreezeTimesOutAndThaws) {
  const auto out = run_in_child(freeze_with_a_stuck_hook, kChildDeadline);
  EXPECT_TRUE(out.exited_with(0)) << out.describe();
}

// Sampling is not frozen, so a thread the freezer has stopped may hold the
// sampled heap's lock (simulated here by holding it): the freezer's free of
// a sampled block must not wait for it.
int freezer_frees_sampled_block_while_lock_held() {
  LiveBlockTable& table = LiveBlockTable::instance();
  HeapProfiler::set_sample_rate(1);
  HeapProfiler::start();
  HeapProfiler::set_exact_mode(true);
  void* sampled = call_malloc(64);
  HeapProfiler::stop();
  if (HeapProfiler::counters().samples == 0) return 3;
  if (!table.freeze()) return 2;
  internal::SampledHeap::instance().lock_for_fork();  // "a paused thread holds it"
  call_free(sampled);  // the freezer's own free; hung before
  internal::SampledHeap::instance().unlock_after_fork();
  table.thaw();
  HeapProfiler::set_exact_mode(false);
  return 0;
}

TEST(LiveBlockTableFreeze, FreezerFreesSampledBlock_DoesNotWaitForSampledHeapLock) {
  const auto out = run_in_child(freezer_frees_sampled_block_while_lock_held, kChildDeadline);
  EXPECT_TRUE(out.exited_with(0)) << out.describe();
}

}  // namespace
}  // namespace syncscope::prof
