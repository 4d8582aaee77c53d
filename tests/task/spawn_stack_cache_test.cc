// The spawn-stack cache (src/task/spawn_stack_cache.h): a reused stack is
// the stack a fresh unwind returns (libunwind is the oracle), also when one
// key (same spawn function, same return address, same frame) is reached
// through different callers; and an executor's tasks keep the spawn stack
// of their own caller.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "syncscope/prof/stack_trace.h"
#include "syncscope/task/task.h"
#include "task/spawn_stack_cache.h"
#include "task/stack_capture.h"
#include "task/symbolize_util.h"

namespace syncscope::task {
namespace {

using internal::spawn_stack_cache_stats;
using internal::SpawnStackCacheStats;

struct Capture {
  std::vector<std::uintptr_t> cached;  // capture_spawn_stack, [0] in probe
  std::vector<std::uintptr_t> fresh;   // prof::capture_stack, [0] in probe
  std::uintptr_t key_return_address = 0;
  std::uintptr_t key_cfa = 0;
};

// Stands in for a spawn function: captures its stack through the cache and
// then afresh. pcs[0] differs (two call sites in probe); the callers from
// pcs[1] on must not.
__attribute__((noinline)) void probe(Capture& c) {
  std::uintptr_t pcs[prof::kMaxStackDepth];
  const int n = internal::capture_spawn_stack(pcs, prof::kMaxStackDepth);
  c.cached.assign(pcs, pcs + n);
  const int m = prof::capture_stack(pcs, prof::kMaxStackDepth, 0);
  c.fresh.assign(pcs, pcs + m);
  c.key_return_address = reinterpret_cast<std::uintptr_t>(__builtin_return_address(0));
  c.key_cfa = reinterpret_cast<std::uintptr_t>(__builtin_dwarf_cfa());
  asm volatile("" ::: "memory");  // keeps probe's frame (no tail position for the captures)
}

// One caller of probe for two outer callers: the key (probe's return
// address into shared_helper, probe's frame) is the same for both.
__attribute__((noinline)) void shared_helper(Capture& c) {
  probe(c);
  asm volatile("" ::: "memory");
}
__attribute__((noinline)) void outer_a(Capture& c) {
  shared_helper(c);
  asm volatile("" ::: "memory");
}
__attribute__((noinline)) void outer_b(Capture& c) {
  asm volatile("nop");  // not identical to outer_a (no folding of the two)
  shared_helper(c);
  asm volatile("" ::: "memory");
}

void expect_same_callers(const Capture& c, int round) {
  ASSERT_GE(c.fresh.size(), 3u) << round;
  ASSERT_EQ(c.cached.size(), c.fresh.size()) << round;
  for (std::size_t i = 1; i < c.fresh.size(); ++i) EXPECT_EQ(c.cached[i], c.fresh[i]) << "round " << round << " frame " << i;
}

SpawnStackCacheStats minus(const SpawnStackCacheStats& a, const SpawnStackCacheStats& b) {
  return {a.hits - b.hits, a.first_seen - b.first_seen, a.filled - b.filled, a.stale - b.stale};
}

TEST(SpawnStackCache, RepeatedSite_ReusesTheStackAFreshUnwindReturns) {
  const SpawnStackCacheStats before = spawn_stack_cache_stats();
  constexpr int kRounds = 20;
  for (int i = 0; i < kRounds; ++i) {
    Capture c;
    probe(c);
    expect_same_callers(c, i);
  }
  const SpawnStackCacheStats d = minus(spawn_stack_cache_stats(), before);
#if defined(__x86_64__)
  // Seen (once more if this thread had no cache yet), filled once, then
  // reused every time.
  EXPECT_GE(d.first_seen, 1u);
  EXPECT_LE(d.first_seen, 2u);
  EXPECT_EQ(d.filled, 1u);
  EXPECT_EQ(d.hits, kRounds - d.first_seen - d.filled);
  EXPECT_EQ(d.stale, 0u);
#endif
}

TEST(SpawnStackCache, SameKeyThroughDifferentCallers_NeverReusesTheOtherStack) {
  const SpawnStackCacheStats before = spawn_stack_cache_stats();
  constexpr int kRounds = 40;
  Capture first_a, first_b;
  for (int i = 0; i < kRounds; ++i) {
    Capture c;
    // Runs of three, so that an entry is filled from one caller and then
    // asked for by the other.
    const bool via_a = (i / 3) % 2 == 0;
    if (via_a) outer_a(c);
    else outer_b(c);
    expect_same_callers(c, i);
    if (i == 0) first_a = c;
    if (i == 3) first_b = c;
  }
  // The scenario is the one claimed: one key, two different caller chains.
  ASSERT_EQ(first_a.key_return_address, first_b.key_return_address);
  ASSERT_EQ(first_a.key_cfa, first_b.key_cfa);
  ASSERT_EQ(first_a.fresh.size(), first_b.fresh.size());
  EXPECT_NE(first_a.fresh[3], first_b.fresh[3]);  // probe, shared_helper, outer_a/outer_b
#if defined(__x86_64__)
  const SpawnStackCacheStats d = minus(spawn_stack_cache_stats(), before);
  EXPECT_GT(d.hits, 0u);
  EXPECT_GT(d.stale, 0u);  // a filled entry met the other chain and was not used
#endif
}

// Through the executor: tasks spawned through one helper from two callers
// name their own caller in the spawn stack (what the goroutine profile's
// "created by" shows).
__attribute__((noinline)) TaskHandle spawn_through_helper(Executor& ex, const char* name) {
  TaskHandle h = ex.spawn(name, [] {});
  asm volatile("" ::: "memory");
  return h;
}
__attribute__((noinline)) TaskHandle spawn_from_caller_one(Executor& ex) {
  TaskHandle h = spawn_through_helper(ex, "from-one");
  asm volatile("" ::: "memory");
  return h;
}
__attribute__((noinline)) TaskHandle spawn_from_caller_two(Executor& ex) {
  asm volatile("nop");
  TaskHandle h = spawn_through_helper(ex, "from-two");
  asm volatile("" ::: "memory");
  return h;
}

bool stack_names(const std::vector<std::uintptr_t>& pcs, const std::string& function) {
  for (const internal::ResolvedFrame& f : internal::resolve(pcs, false)) {
    if (f.function.find(function) != std::string::npos) return true;
  }
  return false;
}

TEST(SpawnStackCache, ExecutorTasks_NameTheirOwnCallerInTheSpawnStack) {
  Executor ex({.name = "stackcache", .workers = 2});
  const SpawnStackCacheStats before = spawn_stack_cache_stats();
  constexpr int kRounds = 24;
  std::vector<TaskHandle> handles;
  for (int i = 0; i < kRounds; ++i) {
    handles.push_back((i / 3) % 2 == 0 ? spawn_from_caller_one(ex) : spawn_from_caller_two(ex));
  }
  int one = 0, two = 0;
  for (const TaskHandle& h : handles) {
    h.join();
    const TaskInfo info = h.info();
    const bool from_one = info.name == "from-one";
    (from_one ? one : two) += 1;
    EXPECT_TRUE(stack_names(info.spawn_stack, from_one ? "spawn_from_caller_one" : "spawn_from_caller_two"))
        << info.name;
    EXPECT_FALSE(stack_names(info.spawn_stack, from_one ? "spawn_from_caller_two" : "spawn_from_caller_one"))
        << info.name;
    EXPECT_TRUE(stack_names(info.spawn_stack, "spawn_through_helper")) << info.name;
  }
  EXPECT_EQ(one, kRounds / 2);
  EXPECT_EQ(two, kRounds / 2);
#if defined(__x86_64__)
  const SpawnStackCacheStats d = minus(spawn_stack_cache_stats(), before);
  EXPECT_GT(d.hits, 0u);   // the cache was used
  EXPECT_GT(d.stale, 0u);  // and refused the other caller's stack
#endif
}

}  // namespace
}  // namespace syncscope::task
