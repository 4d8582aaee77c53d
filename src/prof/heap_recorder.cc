#include "prof/heap_recorder.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <limits>

#include "prof/hook_slow_reasons.h"
#include "prof/live_block_store.h"
#include "prof/sampled_heap.h"
#include "prof/sampling_math.h"
#include "prof/stack_table.h"
#include "prof/thread_state.h"
#include "prof/unwind_gate.h"
#include "syncscope/prof/stack_trace.h"
#include "syncscope/prof/task_labels.h"

// Defined by the interposer objects (src/prof/hooks/); absent in sanitizer builds.
extern "C" __attribute__((weak)) const int syncscope_prof_malloc_hooks_anchor;

namespace syncscope::prof::internal {
namespace {

// Mean bytes between samples; >= 1. Read with relaxed loads after an acquire
// of g_sampler_generation (see reset_sampler).
constinit std::atomic<std::int64_t> g_rate{512 * 1024};
constinit std::atomic<bool> g_sampling{false};
constinit std::atomic<std::uint64_t> g_samples{0};  // statistics only
constinit std::atomic<std::uint64_t> g_samples_dropped{0};  // statistics only
constinit std::atomic<bool> g_fork_handlers{false};
// set_sample_listener's function, or nullptr. relaxed: set once at start-up,
// before the samples it should see; a sample that misses it is harmless.
constinit std::atomic<SampleListener> g_sample_listener{nullptr};

std::uint64_t next_random(ThreadState& t) noexcept {
  if (t.rng == 0) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    t.rng = (reinterpret_cast<std::uintptr_t>(&t) * 0x9e3779b97f4a7c15ull) ^
            static_cast<std::uint64_t>(ts.tv_nsec) ^ (static_cast<std::uint64_t>(ts.tv_sec) << 32);
    if (t.rng == 0) t.rng = 1;
  }
  // xorshift64*: fast, no state outside the thread, good enough for sampling.
  t.rng ^= t.rng >> 12;
  t.rng ^= t.rng << 25;
  t.rng ^= t.rng >> 27;
  return t.rng * 0x2545f4914f6cdd1dull;
}

// Exponentially distributed byte distance to the next sample (mean = rate).
std::int64_t draw_distance(ThreadState& t, std::int64_t rate) noexcept {
  if (rate <= 1) return 0;  // every allocation
  // u in (0, 1]: 53 random bits, never 0 so log(u) is finite.
  const double u = static_cast<double>((next_random(t) >> 11) + 1) * 0x1.0p-53;
  const double d = -natural_log(u) * static_cast<double>(rate);
  return d >= 9.0e18 ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(d);
}

}  // namespace

constinit std::atomic<std::uint32_t> g_sampler_generation{1};

constinit HookSlowReasons g_hook_slow_reasons;
extern HookSlowReasons g_hook_slow_reasons_hidden
    __attribute__((visibility("hidden"), alias("_ZN9syncscope4prof8internal19g_hook_slow_reasonsE")));

bool tag_samples() noexcept {
  // relaxed: the rate is a setting; a sample racing with its change may take
  // either form, and an untagged one switches the tag test off first.
  if (g_rate.load(std::memory_order_relaxed) >= kTaggedSamplingMinRate) return true;
  SampledHeap::instance().note_untagged_sample();
  return false;
}

void reset_sampler(ThreadState& t) noexcept {
  // acquire: pairs with the release in set_sampling(), so rate/on are current.
  t.sampler_generation = g_sampler_generation.load(std::memory_order_acquire);
  // relaxed: ordered by the acquire above.
  t.bytes_until_sample = g_sampling.load(std::memory_order_relaxed)
                             ? draw_distance(t, g_rate.load(std::memory_order_relaxed))
                             : kSamplerRecheckBytes;
}

__attribute__((noinline)) bool sample_due_slow(ThreadState& t, std::size_t size) noexcept {
  // relaxed: see g_sampler_generation.
  if (t.sampler_generation != g_sampler_generation.load(std::memory_order_relaxed)) {
    // A new thread (or a fork child) claims its counter slot here, before
    // its first allocation, rather than in count_object after it: the claim
    // (pthread_setspecific) runs deep, and would leave copies of the new
    // block's address in stack memory the thread's later frames reuse,
    // which a conservative scan then finds in the wrong frame.
    counter_slot(t);
    reset_sampler(t);
    t.bytes_until_sample -= static_cast<std::int64_t>(size);
    if (t.bytes_until_sample > 0) return false;
  }
  // relaxed: ordered by the acquire in reset_sampler for this generation.
  if (!g_sampling.load(std::memory_order_relaxed)) {
    t.bytes_until_sample = kSamplerRecheckBytes;
    return false;
  }
  return true;  // record_alloc_slow draws the next distance
}

namespace {

// Enters the busy section (an exact-table insert or erase; nothing else runs
// inside it). The freezing thread never waits on its own freeze: while the
// table is frozen every other hook is held out (frozen and drained), so the
// freezer mutates the shards alone and needs no busy count.
// Returns whether busy was raised (leave_busy must then be called).
bool enter_busy(ThreadState& t, CounterSlot& s) noexcept {
  if (t.freezer) return false;
  LiveBlockStore& store = LiveBlockStore::instance();
  for (;;) {
    // seq_cst (both): the hook side of the Dekker handshake with freeze().
    s.busy.fetch_add(1, std::memory_order_seq_cst);
    if (!store.frozen.load(std::memory_order_seq_cst)) return true;
    s.busy.fetch_sub(1, std::memory_order_seq_cst);
    // acquire: pairs with thaw()'s release.
    while (store.frozen.load(std::memory_order_acquire)) {
      timespec pause{0, 50 * 1000};
      nanosleep(&pause, nullptr);
    }
  }
}

void leave_busy(CounterSlot& s) noexcept {
  // release: our table mutations happen before freeze() sees busy == 0.
  s.busy.fetch_sub(1, std::memory_order_release);
}

// The bucket a sampled allocation's estimates go to: its stack interned
// under the calling thread's task label (task_labels.h: a lock-free slot
// read), so the heap profile can label it; `stack` itself outside a task or
// when the table has no room. Only the sampled path asks (a read of the
// thread's slot, with its tid cached, and, inside a task, a second intern):
// the exact table and the retention views keep the unlabelled id.
std::uint32_t task_bucket(const std::uintptr_t* pcs, int depth, std::uint32_t stack) noexcept {
  if (stack == 0) return 0;
  const std::uint32_t label = this_thread_task_label();
  if (label == 0) return stack;
  const std::uint32_t labelled = StackTable::instance().intern(pcs, depth, label);
  return labelled != 0 ? labelled : stack;
}

}  // namespace

// The stack is captured and interned before the busy section: unwinding may
// take the dynamic loader's lock (dl_iterate_phdr on an unwind-cache miss),
// and a thread inside a dl_iterate_phdr callback that allocates waits for
// thaw() while holding that lock. Inside the busy section there are only the
// live-block shard locks and mmap (never held by a thread waiting on frozen),
// so freeze() waits for a bounded amount of work (issue 13, item 1).
__attribute__((noinline)) void record_alloc_slow(ThreadState& t, CounterSlot& s, void* p,
                                                 std::size_t size, bool sample,
                                                 bool exact, int frames) noexcept {
  // The freezer's own allocations (its snapshot buffers) are not recorded:
  // unwinding could wait for the loader lock, which a thread held in the hook
  // until thaw() may own.
  if (sample) t.bytes_until_sample = draw_distance(t, g_rate.load(std::memory_order_relaxed));
  if (t.freezer) return;
  enter_profiler(t);
  std::uintptr_t pcs[kMaxStackDepth];
  // No frames while a fork is under way (capture_stack passes the unwind
  // gate, unwind_gate.h).
  const int depth = capture_stack(pcs, kMaxStackDepth, frames);
  const std::uint32_t id = StackTable::instance().intern(pcs, depth);
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  if (sample) {
    // relaxed: the rate is a statistic input; a concurrent change is fine.
    const double w = sample_weight(size, g_rate.load(std::memory_order_relaxed));
    // relaxed (both): statistics.
    if (SampledHeap::instance().record_alloc(addr, size, id, task_bucket(pcs, depth, id), w)) {
      g_samples.fetch_add(1, std::memory_order_relaxed);
    } else {
      g_samples_dropped.fetch_add(1, std::memory_order_relaxed);
    }
    if (const SampleListener listener = g_sample_listener.load(std::memory_order_relaxed)) listener();
  }
  if (exact) {
    const bool busy = enter_busy(t, s);
    LiveBlockStore::instance().insert(addr, size, id);
    if (busy) leave_busy(s);
  }
  leave_profiler(t);
}

__attribute__((noinline)) void record_free_slow(ThreadState& t, CounterSlot& s,
                                                std::uintptr_t addr, bool sampled,
                                                bool exact) noexcept {
  enter_profiler(t);
  if (sampled) {
    // Sampling is not frozen: while the freezer has the world stopped, a
    // paused thread may hold the sampled heap's lock. The freezer never waits for it.
    if (t.freezer) {
      SampledHeap::instance().try_record_free(addr);
    } else {
      SampledHeap::instance().record_free(addr);
    }
  }
  if (exact) {
    // The freezer's own frees (it should make none while frozen) still leave
    // the shards, so the table never lists freed memory after the thaw.
    const bool busy = enter_busy(t, s);
    LiveBlockStore::instance().erase(addr);
    if (busy) leave_busy(s);
  }
  leave_profiler(t);
}

namespace {

// The locks are held from fork_prepare() to fork_release() (pthread_atfork),
// across functions, where the thread-safety analysis cannot follow them.
void fork_prepare() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  close_unwind_gate();  // first: no walk in flight while the locks are taken
  // Lock order: stacks, sampled heap, live-block shards (the hook path never
  // holds two of them at once, so any fixed order is deadlock-free).
  StackTable::instance().lock_for_fork();
  SampledHeap::instance().lock_for_fork();
  LiveBlockStore::instance().lock_all_for_fork();
}

void fork_release() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  LiveBlockStore::instance().unlock_all_after_fork();
  SampledHeap::instance().unlock_after_fork();
  StackTable::instance().unlock_after_fork();
  open_unwind_gate();
}

// In the child only the forking thread exists, and it is not inside a hook:
// slots owned or marked busy by the parent's other threads are released, so
// a later freeze() in the child does not wait for threads that do not exist,
// and a freeze held by another parent thread is lifted.
void fork_child() {
  fork_release();
  // A freeze by another thread of the parent would never be thawed here (that
  // thread does not exist in the child): every allocation of the child would
  // wait for it. The parent's freezer owns its snapshot; the child starts
  // thawed. A child forked by the freezer itself keeps its freeze and thaws
  // it as the parent would have.
  if (!tls_state.freezer) {
    // relaxed: single-threaded child; nothing to order against.
    LiveBlockStore::instance().frozen.store(false, std::memory_order_relaxed);
  }
  // Every child inherits the parent's distance to its next sample and its
  // random state, so all children of a parent about to sample would sample
  // the same allocation. Draw afresh (the exponential distance is
  // memoryless, so this keeps the estimates unbiased).
  tls_state.rng = 0;
  tls_state.sampler_generation = 0;
  tls_state.bytes_until_sample = 0;  // the next allocation re-draws (sample_due_slow)
  CounterSlot* mine = tls_state.slot;
  CounterSlot* slots = counter_slots();
  for (std::size_t i = 0; i < kCounterSlots; ++i) {
    // relaxed: single-threaded child; nothing to order against.
    slots[i].busy.store(0, std::memory_order_relaxed);
    if (&slots[i] != mine && i != 0) slots[i].owner.store(0, std::memory_order_relaxed);
  }
}

}  // namespace

double sample_weight(std::size_t size, std::int64_t rate) noexcept {
  if (rate <= 1) return 1.0;
  const double bytes = size == 0 ? 1.0 : static_cast<double>(size);
  // 1 - exp(-x), precise for small x.
  return 1.0 / one_minus_exp_neg(bytes / static_cast<double>(rate));
}

void set_sampling(bool on, std::int64_t rate) noexcept {
  // relaxed stores, published by the release increment below.
  g_rate.store(rate < 1 ? 1 : rate, std::memory_order_relaxed);
  g_sampling.store(on, std::memory_order_relaxed);
  // release: pairs with the acquire in reset_sampler().
  g_sampler_generation.fetch_add(1, std::memory_order_release);
  // The calling thread follows at once; others when their countdown ends.
  reset_sampler(tls_state);  // allocates nothing
}

bool sampling() noexcept { return g_sampling.load(std::memory_order_relaxed); }  // relaxed: flag
std::int64_t sample_rate() noexcept { return g_rate.load(std::memory_order_relaxed); }  // relaxed: value
std::uint64_t samples_taken() noexcept { return g_samples.load(std::memory_order_relaxed); }  // relaxed: stat
std::uint64_t samples_dropped() noexcept {
  return g_samples_dropped.load(std::memory_order_relaxed);  // relaxed: statistics
}

void set_sample_listener(SampleListener listener) noexcept {
  g_sample_listener.store(listener, std::memory_order_relaxed);  // relaxed: see g_sample_listener
}

void set_exact_mode(bool on) noexcept {
  if (on) install_fork_handlers();
  LiveBlockStore& store = LiveBlockStore::instance();
  // relaxed: flags read by hooks with relaxed loads; allocations racing with
  // the switch may or may not be tracked (documented in live_blocks.h).
  if (on) store.ever_enabled.store(true, std::memory_order_relaxed);
  store.enabled.store(on, std::memory_order_relaxed);
  // After the flags, both bits in one write (hook_slow_reasons.h).
  if (on) {
    raise_hook_slow_reason(kSlowExactOn | kSlowExactEverOn);
  } else {
    clear_hook_slow_reason(kSlowExactOn);
  }
}

void install_fork_handlers() noexcept {
  // acq_rel: exactly one caller registers.
  if (g_fork_handlers.exchange(true, std::memory_order_acq_rel)) return;
  enter_profiler(tls_state);  // pthread_atfork may allocate
  const bool ok = pthread_atfork(fork_prepare, fork_release, fork_child) == 0;
  leave_profiler(tls_state);
  // relaxed: out of memory; a later call (any thread) tries again.
  if (!ok) g_fork_handlers.store(false, std::memory_order_relaxed);
}

bool hooks_linked() noexcept { return &syncscope_prof_malloc_hooks_anchor != nullptr; }

}  // namespace syncscope::prof::internal
