// StripedRwLock: a reader-writer lock whose read side writes only the
// reader's own cache line. kStripes RwSpinLocks, one per line; a thread
// takes the shared side of its own stripe (thread_stripe(), map_counters.h),
// and a writer takes the exclusive side of all of them, in index order.
// FlatGroupMap guards its table pointer with it: every operation holds its
// stripe shared, and growth, shrink and clear() hold all stripes exclusive.
//
// Each stripe also carries a counter its shared holders may update (the map
// keeps there the inserts it has not yet added to the table's load), so
// that counting an insert touches no line the lock did not already touch.
//
// Cost: a shared acquisition is two read-modify-writes of a line no other
// thread writes (while at most kStripes threads use the lock); an exclusive
// acquisition touches kStripes lines and waits for every reader.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "syncscope/map/internal/map_counters.h"
#include "syncscope/map/internal/rw_spin_lock.h"

namespace syncscope::map::internal {

class StripedRwLock {
 public:
  struct alignas(64) Stripe {
    RwSpinLock lock;
    // Updated by the stripe's shared holders with relaxed read-modify-writes
    // (threads beyond kStripes share stripes); reset under lock_all().
    std::atomic<std::int64_t> count{0};
  };
  static_assert(sizeof(Stripe) == 64, "one stripe per cache line");

  // Takes the calling thread's stripe shared and returns it.
  Stripe& lock_shared() {
    Stripe& s = stripes_[thread_stripe()];
    s.lock.lock_shared();
    return s;
  }

  void lock_all() {
    for (Stripe& s : stripes_) s.lock.lock();
  }
  void unlock_all() noexcept {
    for (Stripe& s : stripes_) s.lock.unlock();
  }

  // Under lock_all() only.
  void reset_counts_locked() noexcept {
    // relaxed: the exclusive lock orders these against every holder.
    for (Stripe& s : stripes_) s.count.store(0, std::memory_order_relaxed);
  }

 private:
  Stripe stripes_[kStripes];
};

// RAII: the calling thread's stripe, shared.
class SharedStripe {
 public:
  explicit SharedStripe(StripedRwLock& l) : stripe_(l.lock_shared()) {}
  ~SharedStripe() { stripe_.lock.unlock_shared(); }
  SharedStripe(const SharedStripe&) = delete;
  SharedStripe& operator=(const SharedStripe&) = delete;
  StripedRwLock::Stripe& stripe() noexcept { return stripe_; }

 private:
  StripedRwLock::Stripe& stripe_;
};

// RAII: every stripe, exclusive.
class AllStripes {
 public:
  explicit AllStripes(StripedRwLock& l) : lock_(l) { lock_.lock_all(); }
  ~AllStripes() { lock_.unlock_all(); }
  AllStripes(const AllStripes&) = delete;
  AllStripes& operator=(const AllStripes&) = delete;

 private:
  StripedRwLock& lock_;
};

}  // namespace syncscope::map::internal
