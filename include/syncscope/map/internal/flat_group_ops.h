// The table-level steps of FlatGroupMap (flat_group_map.h) that need no
// member of the map: the slot and group types chosen for K and V, hashing,
// lookups (optimistic or locked), the locked find for writers, the slot
// claim of an insert, the load accounting, and the rehash moves. The map
// owns the table, the gate and the counters, and calls these with the
// protection each one names.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "syncscope/map/internal/flat_group_table.h"
#include "syncscope/map/internal/group_meta.h"
#include "syncscope/map/internal/rw_spin_lock.h"
#include "syncscope/map/internal/seq_lock.h"
#include "syncscope/map/internal/slot_cell.h"
#include "syncscope/map/internal/spin_backoff.h"
#include "syncscope/map/internal/striped_rw_lock.h"

namespace syncscope::map::internal {

template <class K, class V, class Hash, class Eq>
struct FlatGroupOps {
  // Whether reads are seqlock-validated copies that write no shared line.
  static constexpr bool kOptimisticReads = kFitsAtomicWords<K> && kFitsAtomicWords<V>;

  using KeyCell = std::conditional_t<kOptimisticReads, AtomicWordCell<K>, PlainCell<K>>;
  using ValueCell = std::conditional_t<kOptimisticReads, AtomicWordCell<V>, PlainCell<V>>;
  struct Slot {
    KeyCell key;      // constructed while the slot's tag is non-zero
    ValueCell value;  // likewise
  };
  using Lock = std::conditional_t<kOptimisticReads, SeqLock, RwSpinLock>;
  using Group = FlatGroup<Slot, Lock>;
  using Table = FlatGroupTable<Group>;
  using Stripe = StripedRwLock::Stripe;

  // Optimistic reads of one group before a reader takes its lock: bounds a
  // reader's wait behind a stream of writers to the same group.
  static constexpr int kOptimisticTries = 8;

  enum class GroupResult { kHit, kStop, kContinue };
  enum class Claim { kInserted, kRaced, kFull };

  // A key found for writing: its group stays locked while this lives.
  struct WriteHit {
    std::unique_lock<Lock> lock;
    Group* group = nullptr;
    Slot* slot = nullptr;
    std::size_t index = 0;
    explicit operator bool() const noexcept { return slot != nullptr; }
  };

  static HashedKey hash_of(const K& key) {
    return HashedKey::from(static_cast<std::uint64_t>(Hash{}(key)));
  }

  static std::uint32_t occupied(const Group& g) noexcept {
    // relaxed: under the group's lock, the gate's exclusive side, or a
    // seqlock read (validated by the caller).
    return g.meta.load(std::memory_order_relaxed).occupied();
  }

  // Looks for key in g; on a hit calls on_hit(slot), which copies what the
  // caller needs. The caller provides the protection (see occupied()).
  template <class OnHit>
  static GroupResult unprotected_examine(const Group& g, const K& key, const HashedKey& h,
                                         OnHit& on_hit) {
    // relaxed: see occupied().
    const MetaWords m = g.meta.load(std::memory_order_relaxed);
    for (std::uint32_t bits = m.match(h.tag); bits != 0; bits &= bits - 1) {
      const Slot& s = g.slots[std::countr_zero(bits)];
      if (Eq{}(s.key.get(), key)) {
        on_hit(s);
        return GroupResult::kHit;
      }
    }
    return m.overflowed(h) ? GroupResult::kContinue : GroupResult::kStop;
  }

  // One group of a lookup, read the way kOptimisticReads says. on_hit may
  // run more than once (a torn optimistic copy is retried): it must
  // overwrite what it copied before.
  template <class OnHit>
  static GroupResult read_group(const Group& g, const K& key, const HashedKey& h, OnHit& on_hit) {
    if constexpr (kOptimisticReads) {
      SpinBackoff backoff;
      for (int attempt = 0; attempt < kOptimisticTries; ++attempt) {
        const std::uint32_t version = g.lock.read_begin();
        if ((version & 1) == 0) {
          const GroupResult r = unprotected_examine(g, key, h, on_hit);
          if (g.lock.read_valid(version)) return r;
        }
        backoff.pause();
      }
      std::unique_lock lk(g.lock);
      return unprotected_examine(g, key, h, on_hit);
    } else {
      // The lock-free metadata probe: lock only a group whose tags match.
      // acquire: a tag seen here was stored after its slot's writes
      // started; pairs with GroupMeta::set_tag's release.
      const MetaWords m = g.meta.load(std::memory_order_acquire);
      if (m.match(h.tag) == 0) return m.overflowed(h) ? GroupResult::kContinue : GroupResult::kStop;
      std::shared_lock lk(g.lock);
      return unprotected_examine(g, key, h, on_hit);
    }
  }

  // Precondition: the gate held shared. Linearizable at the read of the
  // group that answers (a key never moves between groups under the gate).
  template <class OnHit>
  static bool lookup(const Table& t, const K& key, const HashedKey& h, OnHit&& on_hit) {
    Prober p = t.prober(h);
    for (std::size_t i = 0; i < t.group_count(); ++i, p.next()) {
      switch (read_group(t.group(p.pos()), key, h, on_hit)) {
        case GroupResult::kHit: return true;
        case GroupResult::kStop: return false;
        case GroupResult::kContinue: break;
      }
    }
    return false;
  }

  // Precondition: the gate held shared. Finds key and returns with its
  // group locked exclusively; an empty WriteHit (nothing locked) if absent.
  static WriteHit find_for_write(Table& t, const K& key, const HashedKey& h) {
    Prober p = t.prober(h);
    for (std::size_t i = 0; i < t.group_count(); ++i, p.next()) {
      Group& g = t.group(p.pos());
      // acquire: pairs with GroupMeta::set_tag's release, and through it
      // with an insert's [I2] (its tag precedes its count bump).
      MetaWords m = g.meta.load(std::memory_order_acquire);
      if (m.match(h.tag) != 0) {
        std::unique_lock lk(g.lock);
        m = g.meta.load(std::memory_order_relaxed);  // relaxed: under the lock
        for (std::uint32_t bits = m.match(h.tag); bits != 0; bits &= bits - 1) {
          const auto index = static_cast<std::size_t>(std::countr_zero(bits));
          if (Eq{}(g.slots[index].key.get(), key)) return {std::move(lk), &g, &g.slots[index], index};
        }
      }
      if (!m.overflowed(h)) return {};
    }
    return {};
  }


  // Claims the first free slot on key's probe sequence (Boost's scheme; see
  // the file comment). kRaced: another insert from the same home ran since
  // `seen`, and the caller must look the key up again.
  template <class Build>
  static Claim try_insert(Table& t, Group& home, std::uint32_t seen, const K& key,
                          const HashedKey& h, Build& build) {
    Prober p = t.prober(h);
    for (std::size_t i = 0; i < t.group_count(); ++i, p.next()) {
      Group& g = t.group(p.pos());
      std::unique_lock lk(g.lock);
      const std::uint32_t free = g.meta.load(std::memory_order_relaxed).empty();  // under the lock
      if (free == 0) {
        g.meta.set_overflow(h);
        continue;
      }
      const auto index = static_cast<std::size_t>(std::countr_zero(free));
      g.meta.set_tag(index, h.tag);
      // [I2] acq_rel: the release half publishes the tag above to inserts
      // that read this count ([I1]); the acquire half makes the tags of the
      // inserts counted before us visible (we only compare, though).
      if (home.insert_count.fetch_add(1, std::memory_order_acq_rel) != seen) {
        g.meta.clear_tag(index);
        return Claim::kRaced;
      }
      Slot& s = g.slots[index];
      try {
        s.key.construct(key);
      } catch (...) {
        g.meta.clear_tag(index);
        throw;
      }
      build(s);
      return Claim::kInserted;
    }
    return Claim::kFull;
  }


  // Load accounting (FlatGroupTable::load). relaxed everywhere: counters;
  // the rehash recounts exactly under the gate's exclusive side.
  static bool reserve_insert(Table& t, Stripe& stripe) noexcept {
    const std::int64_t local = stripe.count.fetch_add(1, std::memory_order_relaxed) + 1;
    if (local < t.count_chunk()) return true;
    stripe.count.fetch_sub(local, std::memory_order_relaxed);
    const std::int64_t load = t.load.fetch_add(local, std::memory_order_relaxed) + local +
                              t.overflow_erases.load(std::memory_order_relaxed);
    if (load <= static_cast<std::int64_t>(t.max_load())) return true;
    t.load.fetch_sub(1, std::memory_order_relaxed);  // this insert waits for the rehash
    return false;
  }
  static void unreserve_insert(Stripe& stripe) noexcept {
    stripe.count.fetch_sub(1, std::memory_order_relaxed);
  }
  // Returns whether the table should shrink.
  static bool note_erase(Table& t, Stripe& stripe, bool group_overflowed) noexcept {
    if (group_overflowed) t.overflow_erases.fetch_add(1, std::memory_order_relaxed);
    const std::int64_t local = stripe.count.fetch_sub(1, std::memory_order_relaxed) - 1;
    if (local > -t.count_chunk()) return false;
    stripe.count.fetch_sub(local, std::memory_order_relaxed);
    const std::int64_t load = t.load.fetch_add(local, std::memory_order_relaxed) + local;
    return t.group_count() > Table::kMinGroups &&
           load < static_cast<std::int64_t>(t.capacity() / 16);
  }

  // Moves every entry of `from` into the empty table `to`. Hash may throw
  // only before the first move (hashes are computed first unless Hash is
  // noexcept).
  static void move_all(Table& from, Table& to, std::size_t n) {
    if constexpr (std::is_nothrow_invocable_v<const Hash&, const K&>) {
      for_each_occupied(from, [&](Slot& s) { place(to, hash_of(s.key.get()), s); });
    } else {
      std::vector<HashedKey> hashes;
      hashes.reserve(n);
      for_each_occupied(from, [&](Slot& s) { hashes.push_back(hash_of(s.key.get())); });
      std::size_t i = 0;
      for_each_occupied(from, [&](Slot& s) { place(to, hashes[i++], s); });
    }
  }

  // Into a table no other thread sees yet, which has room (at most 7/16 full).
  static void place(Table& to, const HashedKey& h, Slot& from) noexcept {
    Prober p = to.prober(h);
    for (;; p.next()) {
      Group& g = to.group(p.pos());
      const std::uint32_t free = g.meta.load(std::memory_order_relaxed).empty();  // unshared
      if (free == 0) {
        g.meta.set_overflow(h);
        continue;
      }
      const auto index = static_cast<std::size_t>(std::countr_zero(free));
      g.slots[index].key.construct(from.key.take());
      g.slots[index].value.construct(from.value.take());
      g.meta.set_tag(index, h.tag);
      return;
    }
  }

  template <class F>
  static void for_each_occupied(Table& t, F&& f) {
    for (std::size_t i = 0; i < t.group_count(); ++i) {
      Group& g = t.group(i);
      for (std::uint32_t bits = occupied(g); bits != 0; bits &= bits - 1) {
        f(g.slots[std::countr_zero(bits)]);
      }
    }
  }

  static std::size_t count_occupied(const Table& t) noexcept {
    std::size_t n = 0;
    // acquire: a group's count as of its last completed write; pairs with
    // GroupMeta::set_tag's release.
    for (std::size_t i = 0; i < t.group_count(); ++i) {
      n += static_cast<std::size_t>(
          std::popcount(t.group(i).meta.load(std::memory_order_acquire).occupied()));
    }
    return n;
  }

  // Ends the lifetime of every key and value in t (map destruction, clear).
  static void destroy_elements(Table& t) noexcept {
    for_each_occupied(t, [](Slot& s) {
      s.key.destroy();
      s.value.destroy();
    });
  }

  // Appends a consistent copy of g's entries to out (the gate held shared).
  static void copy_group(const Group& g, std::vector<std::pair<K, V>>& out) {
    auto copy_unprotected = [&] {
      for (std::uint32_t bits = occupied(g); bits != 0; bits &= bits - 1) {
        const Slot& s = g.slots[std::countr_zero(bits)];
        out.emplace_back(s.key.get(), s.value.get());
      }
    };
    if constexpr (kOptimisticReads) {
      const std::size_t mark = out.size();
      SpinBackoff backoff;
      for (int attempt = 0; attempt < kOptimisticTries; ++attempt) {
        const std::uint32_t version = g.lock.read_begin();
        if ((version & 1) == 0) {
          copy_unprotected();
          if (g.lock.read_valid(version)) return;
          out.erase(out.begin() + static_cast<std::ptrdiff_t>(mark), out.end());  // torn copies
        }
        backoff.pause();
      }
      std::unique_lock lk(g.lock);
      copy_unprotected();
    } else {
      std::shared_lock lk(g.lock);
      copy_unprotected();
    }
  }


};

}  // namespace syncscope::map::internal
