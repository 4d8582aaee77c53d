// Epoch-based memory reclamation for the lock-free read path of
// ReadMostlyMap, with the diagnostics a service engineer needs when memory
// is held back: the reclamation backlog (objects, bytes) and the readers
// that pin it (thread, for how long, how many epochs behind).
//
// Contract
//   * A reader calls pin() and holds the returned Guard while it dereferences
//     shared pointers; pins nest (a range callback may pin again).
//   * A writer that has unlinked an object (made it unreachable for readers
//     that pin from now on) calls retire(). The object is freed once every
//     reader that could still hold it has unpinned: at the latest when the
//     global epoch has advanced three times after the retire.
//   * Memory is bounded: each thread frees its own retired objects every
//     kReclaimBatch retires (amortized O(1) per retire); objects of exited
//     threads move to a shared orphan list freed by the next reclaim. The one
//     thing that stops reclamation is a reader that stays pinned — and that
//     reader is reported by pinned_readers(), never silently tolerated.
//
// Implementation notes
//   Each thread owns a cache-line-sized ThreadRecord holding its pin state
//   (epoch << 1 | active). Pinning writes only that line: a read hit touches
//   no cache line shared with other threads.
//
//   Fence pairing (see epoch_domain.cc for the proof sketch):
//     [F-reader]  pin():  store state; reader fence
//     [F-retire]  retire(): seq_cst fence between the caller's unlink and its
//                 read of the global epoch
//     [F-advance] advance(): heavy barrier (membarrier(2) PRIVATE_EXPEDITED,
//                 which executes a full fence on every thread of the process),
//                 then scan every record.
//   With membarrier available the reader fence is a compiler-only fence: the
//   cost moves to the (rare) epoch advance. Without it (old kernels, TSan
//   builds) both sides use seq_cst fences. The choice is made once: if the
//   barrier ever fails after readers began relying on it, no local fence
//   can stand in for it, and the process aborts with a message.
//
// Thread exit and fork(): a thread's record is released by a pthread-key
// destructor, which runs after every C++ thread_local destructor — so a
// thread_local whose destructor uses a map still gives its record back. In
// a fork()ed child the records of the parent's other threads (which do not
// exist there) are released, so a thread pinned at fork() cannot stall the
// child's epoch.
//
// When not to use it: objects that must be freed at a precise moment
// (destructors with side effects that users wait for). Retired objects are
// destroyed later, on whichever thread reclaims them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace syncscope::reclaim {

// Objects and bytes retired but not yet freed.
struct Backlog {
  std::uint64_t objects = 0;
  std::uint64_t bytes = 0;
};

// The domain's per-thread records: every thread that ever pinned or retired
// claims one; a thread's exit releases it for the next thread to reuse.
struct ThreadRecordCount {
  std::size_t total = 0;   // records ever created (they are recycled, never freed)
  std::size_t in_use = 0;  // records claimed by a thread right now
};

// A thread currently inside a pinned (read-side) section.
struct PinnedReader {
  int tid = 0;                         // Linux thread id
  std::string thread_name;             // from /proc/self/task/<tid>/comm
  std::chrono::nanoseconds pinned_for{0};  // lower bound: since the first scan that saw this pin
  std::uint64_t epoch_lag = 0;         // global epoch minus the reader's epoch
  Backlog held_back;                   // retired objects this reader alone keeps from being freed
};

// Per-owner accounting (one per map): how much of the backlog is this
// owner's. Counters are striped per thread, so retiring from many threads
// writes no shared cache line. The account outlives its owner while retired
// objects still point at it: release() hands it to the domain, which frees it
// once its last object is freed.
class ReclaimAccount {
 public:
  // Returns an account owned by the caller.
  static ReclaimAccount* create();
  // The owner is done with the account (it may not charge it any more).
  void release() noexcept;

  Backlog backlog() const noexcept;

 private:
  friend class EpochDomain;
  ReclaimAccount() = default;
  void charge(std::uint64_t bytes) noexcept;
  // The last access a freeing thread makes to the account for one object.
  void discharge(std::uint64_t bytes) noexcept;

  static constexpr std::size_t kStripes = 16;
  struct alignas(64) Stripe {
    // Signed: a stripe may see an object's discharge but not its charge.
    std::atomic<std::int64_t> objects{0};
    std::atomic<std::int64_t> bytes{0};
  };
  Stripe stripes_[kStripes];
};

namespace internal {

// One per thread that ever pinned (records are recycled, never freed).
// Only the owning thread writes `state`, `pin_sequence` and `nesting`.
struct alignas(64) ThreadRecord {
  // (epoch << 1) | active. Written by the owner at every outermost pin and
  // unpin; read by scanners in advance() and pinned_readers().
  std::atomic<std::uint64_t> state{0};
  // Incremented by the owner at every outermost pin, so a scanner can tell
  // one long pin from many short ones at the same epoch.
  std::atomic<std::uint64_t> pin_sequence{0};
  // Pin depth; owner-only, plain.
  std::uint32_t nesting = 0;
  // The rest is cold and lives in the domain's implementation.
  void* cold = nullptr;
};
static_assert(sizeof(ThreadRecord) == 64,
              "a record must fill exactly one cache line so that pinning writes no line "
              "shared with another thread");

// The calling thread's record in the global domain (null before its first
// pin, and again once the thread's exit has released it).
inline thread_local ThreadRecord* tls_record = nullptr;

// Open ReclaimDeferral scopes on this thread, and whether a retire inside
// them reached its reclaim trigger (reclaim then runs when the last closes).
inline thread_local std::uint32_t tls_reclaim_deferrals = 0;
inline thread_local bool tls_reclaim_pending = false;

}  // namespace internal

class EpochDomain {
 public:
  // Each thread tries to advance the epoch and free its retired objects every
  // this many retires. An advance costs one membarrier(2) — microseconds on a
  // many-core machine (it interrupts every CPU running this process) — so
  // the batch amortizes it to a few ns per retire; objects wait about three
  // batches, so a thread's backlog stays around 3 x kReclaimBatch.
  static constexpr std::size_t kReclaimBatch = 256;
  // A thread that retires slowly would otherwise keep its objects for three
  // batches however long that takes, and the count says nothing of what an
  // object keeps alive: a map of shared_ptr values retires 24-byte boxes
  // whose last reference may hold megabytes. So every kClockCheckEvery
  // retires the thread also reads the clock and reclaims when its last
  // attempt is older than kReclaimInterval: at most one extra barrier per
  // interval per retiring thread, and a retired object waits about
  // kReclaimInterval (plus the readers' pins) instead of an unbounded time.
  static constexpr std::size_t kClockCheckEvery = 16;
  static constexpr std::chrono::milliseconds kReclaimInterval{20};

  using Deleter = void (*)(void*) noexcept;

  struct Impl;  // cold state, private to epoch_domain.cc

  // RAII pin. Not copyable or movable: it must end on the thread that began it.
  class Guard {
   public:
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() {
      if (--record_->nesting == 0) {
        // release: every read this thread made under the pin happens-before
        // a scanner that acquire-loads the cleared state and then frees
        // [pairs with the acquire scan in advance()].
        record_->state.store(0, std::memory_order_release);
      }
    }

   private:
    friend class EpochDomain;
    explicit Guard(internal::ThreadRecord* record) noexcept : record_(record) {}
    internal::ThreadRecord* record_;
  };

  // RAII: while one is open on a thread, that thread's retire() only hands
  // objects over and never frees any (freeing runs deleters, i.e. user
  // destructors). Whatever reclaim came due runs when the outermost scope
  // closes. A map opens one before taking its lock, so that no user
  // destructor runs while the lock is held (re-entrant destructors would
  // self-deadlock, destructors touching another map could deadlock ABBA).
  class ReclaimDeferral {
   public:
    ReclaimDeferral(const ReclaimDeferral&) = delete;
    ReclaimDeferral& operator=(const ReclaimDeferral&) = delete;
    ~ReclaimDeferral() {
      if (--internal::tls_reclaim_deferrals == 0 && internal::tls_reclaim_pending) {
        domain_.reclaim_deferred();
      }
    }

   private:
    friend class EpochDomain;
    explicit ReclaimDeferral(EpochDomain& domain) noexcept : domain_(domain) {
      ++internal::tls_reclaim_deferrals;
    }
    EpochDomain& domain_;
  };

  // The process-wide domain every ReadMostlyMap uses (maps keep a reference,
  // so this is not on any hot path). Never destroyed.
  static EpochDomain& global();

  // Enters a read-side section. Wait-free after the thread's first call
  // (which registers the thread and may allocate).
  [[nodiscard]] Guard pin() {
    internal::ThreadRecord* r = internal::tls_record;
    if (r == nullptr) [[unlikely]] r = register_current_thread();
    if (r->nesting++ == 0) {
      // relaxed: a stale epoch only makes this reader more conservative; the
      // fences below and in advance() carry the ordering [F-reader].
      const std::uint64_t e = global_epoch_.load(std::memory_order_relaxed);
      // relaxed: owner-only counter, read by scanners for stall detection.
      r->pin_sequence.store(r->pin_sequence.load(std::memory_order_relaxed) + 1,
                            std::memory_order_relaxed);
#if defined(SYNCSCOPE_TSAN)
      // TSan does not support fences: a seq_cst exchange stands in for the
      // store + [F-reader] fence.
      r->state.exchange((e << 1) | 1, std::memory_order_seq_cst);
#else
      // release: made visible to scanners by the fence pairing
      // [F-reader]/[F-advance]; release (a plain store on x86) additionally
      // orders this thread's earlier accesses before the pin, so that the
      // proof in epoch_domain.cc holds in C++20's model, where a fence
      // executed by membarrier(2) on this thread is not a C++ fence.
      r->state.store((e << 1) | 1, std::memory_order_release);
      reader_fence();
#endif
    }
    return Guard(r);
  }

  // Hands `object` to the domain; `deleter(object)` runs once no reader can
  // hold it. `bytes` and `account` feed the backlog figures (account may be
  // null). May free other retired objects on this thread (unless a
  // ReclaimDeferral is open). Strong guarantee: if it throws (std::bad_alloc
  // while growing this thread's list), the object was not retired and the
  // caller still owns it; once it returns or frees, it never throws. Does
  // not throw after reserve_retires(n) for the next n retires.
  void retire(void* object, Deleter deleter, std::size_t bytes, ReclaimAccount* account);

  // Makes room so that this thread's next `n` retire() calls cannot fail.
  // Callers that retire after an irreversible change (a published
  // snapshot) call it before the change. O(1) when room is already there.
  void reserve_retires(std::size_t n);

  // Opens a ReclaimDeferral scope on the calling thread.
  [[nodiscard]] ReclaimDeferral defer_reclaim() noexcept { return ReclaimDeferral(*this); }

  template <class T>
  void retire(T* object, ReclaimAccount* account) {
    retire(object, [](void* p) noexcept { delete static_cast<T*>(p); }, sizeof(T), account);
  }

  // Frees this thread's and orphaned objects that are already safe; advances
  // the epoch when no reader blocks it. Never waits for readers.
  void try_reclaim();

  // Frees every retired object, of every thread, that no pinned reader can
  // still hold (advancing the epoch as far as the readers allow). Returns the
  // backlog that remains: non-zero only while some reader is pinned.
  Backlog drain();

  // Process-wide backlog.
  Backlog backlog() const noexcept;

  // Threads pinned right now, longest-pinned first, whose pin has lasted at
  // least `min_age` (measured from the first scan that observed it).
  std::vector<PinnedReader> pinned_readers(
      std::chrono::nanoseconds min_age = std::chrono::nanoseconds::zero());

  std::uint64_t epoch() const noexcept {
    // relaxed: informational.
    return global_epoch_.load(std::memory_order_relaxed);
  }

  // Records claimed and created so far (diagnostics; every epoch advance
  // scans all `total` of them).
  ThreadRecordCount thread_records() const noexcept;

  // True when pin() uses the compiler-only fence (membarrier available).
  bool uses_asymmetric_fences() const noexcept { return asymmetric_; }

 private:
  friend struct Impl;
  friend class ReclaimAccount;
  EpochDomain();
  ~EpochDomain() = delete;  // the global domain lives for the whole process

  void reader_fence() const noexcept {
    if (asymmetric_) {
      // [F-reader] compiler-only: the heavy barrier in advance() supplies the
      // hardware fence on this thread's behalf [pairs with F-advance].
      std::atomic_signal_fence(std::memory_order_seq_cst);
    } else {
      // [F-reader] pairs with the seq_cst fence in advance() [F-advance].
      std::atomic_thread_fence(std::memory_order_seq_cst);
    }
  }

  internal::ThreadRecord* register_current_thread();
  // The reclaim a ReclaimDeferral postponed; never throws.
  void reclaim_deferred() noexcept;

  // The global epoch. Advanced (only) by advance() under Impl's scan lock.
  alignas(64) std::atomic<std::uint64_t> global_epoch_{3};
  bool asymmetric_ = false;  // set once at construction
  Impl* impl_ = nullptr;     // cold state; see epoch_domain.cc
};

}  // namespace syncscope::reclaim
