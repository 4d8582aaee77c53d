// EpochDomain: three-epoch reclamation with asymmetric fences.
//
// Why an object retired at epoch R is safe to free once the global epoch is
// R + 3 (C++ memory model, treating membarrier(2) as a seq_cst fence executed
// on every thread between the call's entry and return fences):
//   The retiring thread unlinks O, runs [F-retire] (seq_cst fence), then reads
//   the epoch R. Each advance E -> E+1 reads E, runs [F-advance] (barrier),
//   scans the records, then CASes. Let reader T hold a pointer to O.
//   (a) If T's pin store happened before the barrier of the advance R+2 ->
//       R+3, that scan saw T pinned (T has not unpinned), so T's epoch was
//       R+2: T read R+2 from the CAS of advance R+1 -> R+2, whose barrier
//       fence in T therefore precedes T's epoch load; and [F-retire] precedes
//       that barrier in the seq_cst order (the retiring load of R is
//       coherence-ordered before the advancer's load of R+1). So T's loads
//       after its pin see the unlink: T could not have found O.
//   (b) Otherwise the barrier fence of that advance precedes T's pin in T's
//       program order, and [F-retire] precedes it: again T cannot find O.
//   Freeing then happens-after every unpin that the scans acquire-loaded.
// TSan builds (and kernels without membarrier) use seq_cst fences on both
// sides instead; the argument is the same with real fences.
#include "syncscope/reclaim/epoch_domain.h"

#include "reclaim/epoch_domain_test_seam.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <new>
#include <string>

namespace syncscope::reclaim {
namespace {

struct Retired {
  void* object;
  EpochDomain::Deleter deleter;
  std::uint64_t bytes;
  ReclaimAccount* account;  // holds one reference while the object is retired
  std::uint64_t epoch;      // global epoch read after the unlink [F-retire]
};

// Objects retired at epoch R are freed once the global epoch reaches R + kGrace.
constexpr std::uint64_t kGrace = 3;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string thread_name_of(int tid) {
  std::ifstream comm("/proc/self/task/" + std::to_string(tid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name.empty() ? "?" : name;
}

long membarrier_syscall(int cmd) noexcept { return syscall(__NR_membarrier, cmd, 0, 0); }

// The membarrier(2) call heavy_barrier() makes; replaced only by tests.
std::atomic<internal::MembarrierFn> g_membarrier{membarrier_syscall};

bool register_membarrier() {
#if defined(SYNCSCOPE_TSAN)
  return false;  // TSan cannot see the barrier's effect on other threads
#else
  if (const char* mode = std::getenv("SYNCSCOPE_RECLAIM_FENCES");
      mode != nullptr && std::strcmp(mode, "symmetric") == 0) {
    return false;
  }
  return syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
#endif
}

}  // namespace

// Cold half of a thread's record.
struct ColdRecord {
  internal::ThreadRecord* hot = nullptr;
  ColdRecord* next = nullptr;       // registry list; immutable once published
  std::atomic<bool> in_use{false};  // claimed by a live thread
  int tid = 0;                      // owner's tid; written when claimed

  std::mutex retired_mu;
  std::vector<Retired> retired;                          // guarded by retired_mu
  // retired.size() and the bytes in it; written under retired_mu, read
  // without it by backlog() (relaxed: diagnostics).
  std::atomic<std::uint64_t> pending_objects{0};
  std::atomic<std::uint64_t> pending_bytes{0};
  std::size_t next_trigger = EpochDomain::kReclaimBatch;  // guarded by retired_mu
  // now_ns() of the owner's last reclaim attempt (see kReclaimInterval);
  // guarded by retired_mu.
  std::int64_t last_reclaim_ns = 0;
  // Retires the owner reserved (reserve_retires) and has not made yet:
  // `retired` has room for this many more without allocating. Other threads
  // only remove from `retired`, and keep this much room when they trim its
  // capacity. Written by the owner under retired_mu; read by the owner
  // without it, by others under it.
  std::size_t guaranteed_retires = 0;

  // Stall observation; guarded by Impl::scan_mu.
  std::uint64_t observed_sequence = 0;
  std::int64_t observed_since_ns = 0;
};

struct EpochDomain::Impl {
  EpochDomain* domain;
  // Registry of records: push-only list, never shrinks (records recycle).
  std::atomic<ColdRecord*> head{nullptr};
  std::mutex registry_mu;  // serializes claiming and pushing records

  // One advancer/scanner at a time; also guards stall observations.
  std::mutex scan_mu;

  // Retired objects of threads that exited.
  std::mutex orphan_mu;
  std::vector<Retired> orphans;  // guarded by orphan_mu

  // What `orphans` holds; written under orphan_mu, read relaxed by backlog().
  std::atomic<std::uint64_t> orphan_objects{0};
  std::atomic<std::uint64_t> orphan_bytes{0};

  // Adds `delta` (may be negative) to a pair of diagnostics counters whose
  // writers are serialized by a mutex the caller holds.
  static void adjust(std::atomic<std::uint64_t>& objects, std::atomic<std::uint64_t>& bytes,
                     std::int64_t d_objects, std::int64_t d_bytes) {
    // relaxed: single writer (under the caller's mutex), diagnostic readers.
    objects.store(objects.load(std::memory_order_relaxed) + d_objects, std::memory_order_relaxed);
    bytes.store(bytes.load(std::memory_order_relaxed) + d_bytes, std::memory_order_relaxed);
  }

  static std::int64_t bytes_of(const std::vector<Retired>& v, std::size_t from) {
    std::int64_t b = 0;
    for (std::size_t i = from; i < v.size(); ++i) b += static_cast<std::int64_t>(v[i].bytes);
    return b;
  }

  void heavy_barrier() const noexcept {
#if defined(SYNCSCOPE_TSAN)
    // TSan does not support fences; under TSan the pin, retire and scan use
    // seq_cst read-modify-writes and loads instead (see epoch_domain.h).
#else
    if (domain->asymmetric_) {
      // [F-advance] a full fence on every running thread of the process,
      // pairs with the compiler-only [F-reader].
      // relaxed: a test seam set before the barrier is needed.
      if (g_membarrier.load(std::memory_order_relaxed)(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0) {
        return;
      }
      // Readers pinned with a compiler-only fence: a local fence here pairs
      // with nothing on their side, and freeing on the strength of it could
      // free memory a reader is about to read. Registration succeeded, so
      // this is a kernel or sandbox change under a running process.
      membarrier_failed(errno);
    }
    // [F-advance] pairs with the seq_cst [F-reader] of the symmetric mode.
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
  }

  [[noreturn]] static void membarrier_failed(int err) noexcept {
    std::fprintf(stderr,
                 "syncscope: membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after "
                 "registration (%s); epoch readers rely on it, no other barrier is valid. "
                 "Set SYNCSCOPE_RECLAIM_FENCES=symmetric to run without membarrier.\n",
                 std::strerror(err));
    std::abort();
  }

  template <class F>
  void for_each_record(F&& f) {
    // acquire: pairs with the release push in claim_record, so the record's
    // fields are initialized when we see it.
    for (ColdRecord* c = head.load(std::memory_order_acquire); c != nullptr; c = c->next) f(*c);
  }

  // Tries to advance the global epoch once. Requires scan_mu.
  bool advance_locked() {
    std::atomic<std::uint64_t>& global = domain->global_epoch_;
    // acquire: pairs with the previous advance's CAS.
    std::uint64_t e = global.load(std::memory_order_acquire);
    heavy_barrier();
    bool blocked = false;
    for_each_record([&](ColdRecord& c) {
      // acquire: pairs with the release unpin in Guard::~Guard, so reads made
      // under that pin happen-before anything we free after advancing.
      const std::uint64_t s = c.hot->state.load(std::memory_order_acquire);
      if ((s & 1) != 0 && (s >> 1) != e) {
        blocked = true;
        observe_pin_locked(c, now_ns());
      }
    });
    if (blocked) return false;
    // acq_rel: publishes the advance to reclaimers that acquire-load the epoch.
    return global.compare_exchange_strong(e, e + 1, std::memory_order_acq_rel);
  }

  void observe_pin_locked(ColdRecord& c, std::int64_t now) {
    // relaxed: owner-only counter; a stale value only delays stall detection.
    const std::uint64_t seq = c.hot->pin_sequence.load(std::memory_order_relaxed);
    if (seq != c.observed_sequence || c.observed_since_ns == 0) {
      c.observed_sequence = seq;
      c.observed_since_ns = now;
    }
  }

  // Moves the entries of a thread's `list` that are safe at epoch `g` into
  // `out`. A thread's retires read a non-decreasing epoch (coherence of
  // global_epoch_), so the safe entries are a prefix of its list.
  static void take_safe_prefix(std::vector<Retired>& list, std::uint64_t g,
                               std::vector<Retired>& out, std::size_t keep_spare) {
    auto first_unsafe = std::find_if(list.begin(), list.end(),
                                     [g](const Retired& r) { return r.epoch + kGrace > g; });
    out.insert(out.end(), list.begin(), first_unsafe);
    list.erase(list.begin(), first_unsafe);
    shrink_if_sparse(list, keep_spare);
  }

  // Orphan lists merge several threads' lists, so they are not sorted.
  static void take_safe_any(std::vector<Retired>& list, std::uint64_t g,
                            std::vector<Retired>& out) {
    auto keep_end = std::stable_partition(list.begin(), list.end(), [g](const Retired& r) {
      return r.epoch + kGrace > g;
    });
    out.insert(out.end(), keep_end, list.end());
    list.erase(keep_end, list.end());
    shrink_if_sparse(list, 0);
  }

  // Keeps room for `keep_spare` more entries (the owner's reservation).
  static void shrink_if_sparse(std::vector<Retired>& list, std::size_t keep_spare) {
    // A list that once held a stalled reader's backlog keeps its peak
    // capacity; give it back once it is mostly empty. Best effort: a failed
    // allocation keeps the old capacity.
    const std::size_t want = list.size() + keep_spare;
    if (list.capacity() > 4 * std::max(want, EpochDomain::kReclaimBatch)) {
      try {
        std::vector<Retired> smaller;
        smaller.reserve(want);
        smaller.assign(list.begin(), list.end());
        smaller.swap(list);
      } catch (const std::bad_alloc&) {
      }
    }
  }

  void free_all(std::vector<Retired>& victims) {
    for (const Retired& r : victims) {
      r.deleter(r.object);
      if (r.account != nullptr) r.account->discharge(r.bytes);
    }
    victims.clear();
    // acquire: pairs with the release in adopt_account.
    if (released_account_count.load(std::memory_order_acquire) > 0) sweep_accounts();
  }

  // Accounts whose owner is gone; each is freed once its backlog is empty.
  std::mutex accounts_mu;
  std::vector<ReclaimAccount*> released_accounts;  // guarded by accounts_mu
  std::atomic<std::size_t> released_account_count{0};

  void adopt_account(ReclaimAccount* account) {
    std::lock_guard lk(accounts_mu);
    released_accounts.push_back(account);
    // release: publishes the push to free_all's fast check.
    released_account_count.store(released_accounts.size(), std::memory_order_release);
  }

  void sweep_accounts() {
    std::lock_guard lk(accounts_mu);
    std::erase_if(released_accounts, [](ReclaimAccount* a) {
      // Zero objects means every charge (all made before release) has been
      // discharged, and discharge's objects decrement is a freeing thread's
      // last access (see ReclaimAccount::discharge), so the account is free.
      if (a->backlog().objects != 0) return false;
      delete a;
      return true;
    });
    // relaxed: under accounts_mu; the fast check tolerates staleness.
    released_account_count.store(released_accounts.size(), std::memory_order_relaxed);
  }

  std::uint64_t current_epoch() const {
    // acquire: pairs with the acq_rel CAS in advance_locked.
    return domain->global_epoch_.load(std::memory_order_acquire);
  }

  void collect_orphans(std::uint64_t g, std::vector<Retired>& out) {
    std::lock_guard lk(orphan_mu);
    const std::size_t before = out.size();
    take_safe_any(orphans, g, out);
    adjust(orphan_objects, orphan_bytes, -static_cast<std::int64_t>(out.size() - before),
           -bytes_of(out, before));
  }

  // Requires c.retired_mu.
  static void take_from_record(ColdRecord& c, std::uint64_t g, std::vector<Retired>& out) {
    const std::size_t before = out.size();
    take_safe_prefix(c.retired, g, out, c.guaranteed_retires);
    adjust(c.pending_objects, c.pending_bytes, -static_cast<std::int64_t>(out.size() - before),
           -bytes_of(out, before));
  }

  // Advances up to `max_advances` times (stops when a reader blocks it).
  // Returns the number of advances made.
  std::uint64_t advance(std::uint64_t max_advances, bool wait_for_lock) {
    std::unique_lock lk(scan_mu, std::defer_lock);
    if (wait_for_lock) {
      lk.lock();
    } else if (!lk.try_lock()) {
      return 1;  // another thread is advancing; it serves us too
    }
    std::uint64_t advanced = 0;
    while (advanced < max_advances && advance_locked()) ++advanced;
    return advanced;
  }

  void reclaim_for(ColdRecord& c) {
    // One advance per batch: successive batches move the epoch on, and each
    // advance is a process-wide barrier (see kReclaimBatch).
    const std::uint64_t advanced = advance(1, /*wait_for_lock=*/false);
    const std::uint64_t g = current_epoch();
    std::vector<Retired> victims;
    {
      std::lock_guard lk(c.retired_mu);
      take_from_record(c, g, victims);
      // Scan again after another batch; when nothing moved at all (a reader
      // is pinned at an old epoch — often just preempted inside its read
      // section), wait four batches so a long stall costs one barrier per
      // 4 * kReclaimBatch retires. The pace is linear, never geometric: a
      // geometric back-off lets a briefly preempted reader balloon the
      // backlog long after it has moved on.
      const bool stalled = advanced == 0 && victims.empty();
      c.next_trigger = c.retired.size() + (stalled ? 4 : 1) * EpochDomain::kReclaimBatch;
      c.last_reclaim_ns = now_ns();
    }
    collect_orphans(g, victims);
    free_all(victims);
  }

  // reclaim_for, for callers that have already taken ownership of a retired
  // object and so must not throw: a failed allocation skips this round (the
  // next trigger tries again).
  void reclaim_quietly(ColdRecord& c) noexcept {
    try {
      reclaim_for(c);
    } catch (const std::bad_alloc&) {
    }
  }

  ColdRecord* claim_record() {
    std::lock_guard lk(registry_mu);
    for (ColdRecord* c = head.load(std::memory_order_relaxed); c != nullptr; c = c->next) {
      bool expected = false;
      // acquire: pairs with the release in release_record; the previous
      // owner's writes to the record are visible to the new owner.
      if (c->in_use.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
        c->tid = static_cast<int>(gettid());
        return c;
      }
    }
    auto* c = new ColdRecord();
    c->hot = new internal::ThreadRecord();
    c->hot->cold = c;
    c->in_use.store(true, std::memory_order_relaxed);  // relaxed: published below
    c->tid = static_cast<int>(gettid());
    c->next = head.load(std::memory_order_relaxed);
    // release: publishes the initialized record to lock-free iterators.
    head.store(c, std::memory_order_release);
    return c;
  }

  void release_record(ColdRecord* c) {
    {
      std::scoped_lock lk(c->retired_mu, orphan_mu);
      const std::int64_t objects = static_cast<std::int64_t>(c->retired.size());
      const std::int64_t bytes = bytes_of(c->retired, 0);
      orphans.insert(orphans.end(), c->retired.begin(), c->retired.end());
      c->retired.clear();
      adjust(c->pending_objects, c->pending_bytes, -objects, -bytes);
      adjust(orphan_objects, orphan_bytes, objects, bytes);
      c->next_trigger = EpochDomain::kReclaimBatch;
      c->guaranteed_retires = 0;
    }
    c->hot->nesting = 0;
    // release: a thread still pinned at exit is a bug, but never leave the
    // record looking pinned; pairs with acquire scans.
    c->hot->state.store(0, std::memory_order_release);
    // release: pairs with the acquire claim in claim_record.
    c->in_use.store(false, std::memory_order_release);
  }

  // pthread_atfork child handler. Only the forking thread exists in the
  // child; every other record's owner is gone, and a record left pinned
  // would keep the child's epoch from ever advancing. Such records are
  // released. No prepare handler holds the domain's locks across fork()
  // (a thread allocating under retired_mu could then deadlock against an
  // allocator's own fork handlers), so a lock the fork caught held by a
  // vanished thread is re-created, and the data it guarded — possibly
  // half-updated — is abandoned to the child (leaked there, never freed
  // twice). Allocates nothing: an allocator hook's own child handler may
  // not have run yet. A released record keeps its retired objects; they are
  // freed by drain() or by the thread that claims the record next (its
  // later retires carry later epochs, so the list stays in epoch order).
  void after_fork_in_child() noexcept {
    internal::ThreadRecord* mine = internal::tls_record;
    reset_if_abandoned(registry_mu, [] {});
    reset_if_abandoned(scan_mu, [] {});
    reset_if_abandoned(orphan_mu, [&] {
      new (&orphans) std::vector<Retired>();
      // relaxed (both): single-threaded child.
      orphan_objects.store(0, std::memory_order_relaxed);
      orphan_bytes.store(0, std::memory_order_relaxed);
    });
    reset_if_abandoned(accounts_mu, [&] {
      new (&released_accounts) std::vector<ReclaimAccount*>();
      // relaxed: single-threaded child.
      released_account_count.store(0, std::memory_order_relaxed);
    });
    for_each_record([&](ColdRecord& c) {
      reset_if_abandoned(c.retired_mu, [&] {
        new (&c.retired) std::vector<Retired>();
        // relaxed (both): single-threaded child.
        c.pending_objects.store(0, std::memory_order_relaxed);
        c.pending_bytes.store(0, std::memory_order_relaxed);
        c.guaranteed_retires = 0;
      });
      if (c.hot == mine) {
        c.tid = static_cast<int>(gettid());
        return;
      }
      // relaxed (all): single-threaded child.
      if (!c.in_use.load(std::memory_order_relaxed)) return;
      c.hot->nesting = 0;
      c.hot->state.store(0, std::memory_order_relaxed);
      c.next_trigger = c.retired.size() + EpochDomain::kReclaimBatch;
      c.in_use.store(false, std::memory_order_relaxed);
    });
  }

  // In a fork()ed child: if `mu` was held at fork() (by a thread that does
  // not exist here), re-creates it unlocked and runs `abandon` to reset the
  // data it guarded.
  template <class Abandon>
  static void reset_if_abandoned(std::mutex& mu, Abandon&& abandon) noexcept {
    if (mu.try_lock()) {
      mu.unlock();
      return;
    }
    new (&mu) std::mutex();  // the old one can never be unlocked
    abandon();
  }
};

namespace {

// Releases the calling thread's record when the thread exits. A pthread-key
// destructor, not a C++ thread_local: glibc runs key destructors after every
// thread_local destructor, so a thread_local whose destructor pins (uses a
// map) has finished by then. A key destructor that pins again re-sets the
// key, and glibc runs the destructors another round.
pthread_key_t g_record_key;
EpochDomain::Impl* g_impl = nullptr;  // the global domain's; set once by its constructor

void release_at_thread_exit(void* record) noexcept {
  g_impl->release_record(static_cast<ColdRecord*>(record));
  internal::tls_record = nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------
// ReclaimAccount

namespace {
std::size_t account_stripe() noexcept {
  static std::atomic<std::size_t> next{0};
  // relaxed: only uniqueness of the ticket matters.
  thread_local const std::size_t index = next.fetch_add(1, std::memory_order_relaxed);
  return index;
}
}  // namespace

ReclaimAccount* ReclaimAccount::create() { return new ReclaimAccount(); }

void ReclaimAccount::release() noexcept {
  EpochDomain& d = EpochDomain::global();
  d.impl_->adopt_account(this);
  d.impl_->sweep_accounts();  // frees it now if nothing is retired
}

void ReclaimAccount::charge(std::uint64_t bytes) noexcept {
  Stripe& s = stripes_[account_stripe() % kStripes];
  // relaxed: diagnostics counters; the account's lifetime is ordered by
  // discharge's release (below).
  s.bytes.fetch_add(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
  s.objects.fetch_add(1, std::memory_order_relaxed);
}

void ReclaimAccount::discharge(std::uint64_t bytes) noexcept {
  Stripe& s = stripes_[account_stripe() % kStripes];
  // relaxed: diagnostics counter.
  s.bytes.fetch_sub(static_cast<std::int64_t>(bytes), std::memory_order_relaxed);
  // release: this thread's last access to the account; pairs with the
  // acquire sum in backlog() that sweep_accounts uses before deleting it.
  s.objects.fetch_sub(1, std::memory_order_release);
}

Backlog ReclaimAccount::backlog() const noexcept {
  std::int64_t objects = 0;
  std::int64_t bytes = 0;
  for (const Stripe& s : stripes_) {
    // acquire: see discharge().
    objects += s.objects.load(std::memory_order_acquire);
    // relaxed: diagnostics.
    bytes += s.bytes.load(std::memory_order_relaxed);
  }
  return {objects > 0 ? static_cast<std::uint64_t>(objects) : 0,
          bytes > 0 ? static_cast<std::uint64_t>(bytes) : 0};
}

// ---------------------------------------------------------------------------
// EpochDomain

EpochDomain::EpochDomain() : asymmetric_(register_membarrier()), impl_(new Impl{this}) {
  g_impl = impl_;
  if (const int err = pthread_key_create(&g_record_key, release_at_thread_exit); err != 0) {
    // Records then outlive their threads (a leak, not a fault): say so.
    std::fprintf(stderr, "syncscope: pthread_key_create failed (%s); epoch records of exited "
                 "threads will not be reused\n", std::strerror(err));
  }
  pthread_atfork(nullptr, nullptr, [] { g_impl->after_fork_in_child(); });
}

EpochDomain& EpochDomain::global() {
  static EpochDomain* domain = new EpochDomain();  // never destroyed: threads may pin at exit
  return *domain;
}

internal::ThreadRecord* EpochDomain::register_current_thread() {
  ColdRecord* c = impl_->claim_record();
  // Fails only when the key could not be created (reported then); the
  // record is then never released.
  (void)pthread_setspecific(g_record_key, c);
  internal::tls_record = c->hot;
  return c->hot;
}

void EpochDomain::reserve_retires(std::size_t n) {
  internal::ThreadRecord* hot = internal::tls_record;
  if (hot == nullptr) hot = register_current_thread();
  auto* cold = static_cast<ColdRecord*>(hot->cold);
  if (cold->guaranteed_retires >= n) return;  // owner-only read (see the field)
  // Reserve a batch at once, so that most calls return above.
  const std::size_t want = std::max(n, kReclaimBatch);
  std::lock_guard lk(cold->retired_mu);
  cold->retired.reserve(cold->retired.size() + want);
  cold->guaranteed_retires = want;
}

void EpochDomain::reclaim_deferred() noexcept {
  internal::tls_reclaim_pending = false;
  if (internal::ThreadRecord* hot = internal::tls_record) {
    impl_->reclaim_quietly(*static_cast<ColdRecord*>(hot->cold));
  }
}

void EpochDomain::retire(void* object, Deleter deleter, std::size_t bytes,
                         ReclaimAccount* account) {
#if defined(SYNCSCOPE_TSAN)
  // [F-retire] without a fence (TSan does not support them): a seq_cst
  // read-modify-write orders the unlink before the epoch read.
  const std::uint64_t e = global_epoch_.fetch_add(0, std::memory_order_seq_cst);
#else
  // [F-retire] orders the caller's unlink before the epoch read below; pairs
  // with the barrier of the advances (see the file comment).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  // relaxed: ordered by the fence above.
  const std::uint64_t e = global_epoch_.load(std::memory_order_relaxed);
#endif
  internal::ThreadRecord* hot = internal::tls_record;
  if (hot == nullptr) hot = register_current_thread();
  auto* cold = static_cast<ColdRecord*>(hot->cold);
  if (account != nullptr) account->charge(bytes);
  bool trigger = false;
  {
    std::lock_guard lk(cold->retired_mu);
    try {
      cold->retired.push_back({object, deleter, bytes, account, e});  // the only throw
    } catch (...) {
      if (account != nullptr) account->discharge(bytes);  // not retired after all
      throw;
    }
    if (cold->guaranteed_retires > 0) --cold->guaranteed_retires;
    Impl::adjust(cold->pending_objects, cold->pending_bytes, 1, static_cast<std::int64_t>(bytes));
    trigger = cold->retired.size() >= cold->next_trigger;
    if (!trigger && cold->retired.size() % kClockCheckEvery == 0) {
      const std::int64_t interval = std::chrono::nanoseconds(kReclaimInterval).count();
      trigger = now_ns() - cold->last_reclaim_ns >= interval;
    }
  }
  if (!trigger) return;
  if (internal::tls_reclaim_deferrals > 0) {
    internal::tls_reclaim_pending = true;  // runs when the deferral closes
    return;
  }
  impl_->reclaim_quietly(*cold);
}

void EpochDomain::try_reclaim() {
  internal::ThreadRecord* hot = internal::tls_record;
  if (hot == nullptr) hot = register_current_thread();
  impl_->reclaim_for(*static_cast<ColdRecord*>(hot->cold));
}

Backlog EpochDomain::drain() {
  impl_->advance(kGrace, /*wait_for_lock=*/true);
  const std::uint64_t g = impl_->current_epoch();
  std::vector<Retired> victims;
  impl_->for_each_record([&](ColdRecord& c) {
    std::lock_guard lk(c.retired_mu);
    Impl::take_from_record(c, g, victims);
  });
  impl_->collect_orphans(g, victims);
  impl_->free_all(victims);
  return backlog();
}

Backlog EpochDomain::backlog() const noexcept {
  // relaxed (all loads): diagnostics; records may be read at different instants.
  Backlog b{impl_->orphan_objects.load(std::memory_order_relaxed),
            impl_->orphan_bytes.load(std::memory_order_relaxed)};
  impl_->for_each_record([&](ColdRecord& c) {
    b.objects += c.pending_objects.load(std::memory_order_relaxed);
    b.bytes += c.pending_bytes.load(std::memory_order_relaxed);
  });
  return b;
}

std::vector<PinnedReader> EpochDomain::pinned_readers(std::chrono::nanoseconds min_age) {
  std::vector<PinnedReader> out;
  std::lock_guard lk(impl_->scan_mu);
  const std::uint64_t g = impl_->current_epoch();
  const std::int64_t now = now_ns();
  impl_->for_each_record([&](ColdRecord& c) {
    // acquire: pairs with the release unpin (see advance_locked).
    const std::uint64_t s = c.hot->state.load(std::memory_order_acquire);
    // acquire: the tid written by the claiming thread is visible.
    if ((s & 1) == 0 || !c.in_use.load(std::memory_order_acquire)) return;
    impl_->observe_pin_locked(c, now);
    const auto age = std::chrono::nanoseconds(now - c.observed_since_ns);
    if (age < min_age) return;
    PinnedReader r;
    r.tid = c.tid;
    r.pinned_for = age;
    const std::uint64_t reader_epoch = s >> 1;
    r.epoch_lag = g > reader_epoch ? g - reader_epoch : 0;
    out.push_back(std::move(r));
  });
  // Held-back figures and thread names. An object
  // retired at R is freed once the epoch reaches R + kGrace, and a reader at
  // epoch r keeps the epoch at or below r + 1, so it holds back R >= r - 1.
  for (PinnedReader& r : out) {
    r.thread_name = thread_name_of(r.tid);
    const std::uint64_t reader_epoch = g - r.epoch_lag;
    const std::uint64_t first_held = reader_epoch >= 1 ? reader_epoch - 1 : 0;
    auto count = [&](const std::vector<Retired>& list) {
      for (const Retired& x : list) {
        if (x.epoch >= first_held) {
          ++r.held_back.objects;
          r.held_back.bytes += x.bytes;
        }
      }
    };
    impl_->for_each_record([&](ColdRecord& c) {
      std::lock_guard lk2(c.retired_mu);
      count(c.retired);
    });
    std::lock_guard lk3(impl_->orphan_mu);
    count(impl_->orphans);
  }
  std::sort(out.begin(), out.end(),
            [](const PinnedReader& a, const PinnedReader& b) { return a.pinned_for > b.pinned_for; });
  return out;
}

ThreadRecordCount EpochDomain::thread_records() const noexcept {
  ThreadRecordCount n;
  impl_->for_each_record([&](ColdRecord& c) {
    ++n.total;
    // relaxed: a count for diagnostics.
    if (c.in_use.load(std::memory_order_relaxed)) ++n.in_use;
  });
  return n;
}

namespace internal {
void set_membarrier_for_testing(MembarrierFn fn) noexcept {
  // relaxed: set by a test before the barrier it wants to affect.
  g_membarrier.store(fn != nullptr ? fn : membarrier_syscall, std::memory_order_relaxed);
}
}  // namespace internal

}  // namespace syncscope::reclaim
