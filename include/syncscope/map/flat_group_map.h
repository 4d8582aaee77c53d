// FlatGroupMap: open addressing with per-group locks and a lock-free
// metadata probe — the design of Boost's concurrent_flat_map, with the
// family's API and Go's sync.Map semantics (concurrent_map.h).
//
// When to use it: write-heavy workloads, many distinct keys, small keys and
// values (integers, pointers, small structs): entries live inside the table,
// so an insert allocates nothing (only growth does), and no read writes a
// line another thread reads. For read-mostly caches with large values
// ReadMostlyMap reads faster; for values costly to move, ShardedMap keeps
// each entry in its own node (a rehash here moves every key and value).
//
// Contract (the family's, concurrent_map.h, plus):
//   * Every operation but range() and clear() is linearizable: a write at
//     its group's lock, a read at its validated (or locked) read of the
//     group that answers it. range() copies every entry with the table
//     gate held exclusively, then calls the callback with no lock held (so
//     it sees each key at most once, and may call any method of this map);
//     clear() swaps in an empty table at once (keys stored concurrently may
//     survive).
//   * Values: load() copies; visit() runs its callback on a copy with no
//     lock held. Move-only values cannot be copied: visit()'s and range()'s
//     callbacks then run under the group's shared lock and must not call
//     this map (debug builds abort with a message; reentrancy_check.h).
//   * K and V must be nothrow-move-constructible: a rehash moves them all
//     and could not undo a move that threw.
//   * Exception safety: an exception from Hash, Eq, an allocation or a copy
//     of K or V before an operation takes effect leaves the map unchanged;
//     load_or_store() copies its result after inserting (basic guarantee
//     for that copy). A shrink that fails after an erase is skipped.
//   * Destructors of removed and replaced values run with no lock held;
//     a removed key is destroyed under its group's lock (as in the
//     lock-based maps).
//
// Implementation notes
//
//   gate_ (striped_rw_lock.h) ──► table_ ──► [group 0][group 1]...[group G-1]
//     shared: every operation                  meta | lock | insert_count | 15 slots
//     exclusive: rehash, clear
//
//   * A key's home group is picked by its hash's top bits; its probe visits
//     groups home, home+1, home+3, ... (flat_group_table.h). A lookup reads
//     a group's metadata without a lock, compares keys only in slots whose
//     one-byte tag matches, and stops at the first group whose overflow bit
//     for the hash is clear (group_meta.h).
//   * Reads. When K and V fit in atomic words (trivially copyable, the
//     kOptimisticReads case) a group's lock is a seqlock: a reader copies
//     the metadata, key and value, and keeps the copy only if the version
//     did not move (seq_lock.h); after kOptimisticTries failed tries it
//     takes the lock. Such reads write nothing but the reader's own gate
//     stripe. Otherwise the group's lock is a reader-writer spin lock and a
//     reader takes its shared side, only for groups whose tags match.
//   * Writes lock one group at a time. An insert first looks the key up
//     (noting its home group's insert_count), then claims the first free
//     slot on the probe sequence: it tags the slot, bumps the home's
//     insert_count and, if the count moved since its lookup began (another
//     insert from the same home may have placed the same key), undoes the
//     tag and starts over (Boost's scheme).
//   * Growth: inserts are counted per gate stripe and added to the table's
//     load in chunks; past 7/8 of the slots (or on a full probe sequence)
//     the inserting thread takes the gate exclusive and rehashes into a
//     table at most 7/16 full. Erases from overflowed groups also count
//     towards growth (churn there ends in a rehash that clears the overflow
//     bits), and below 1/16 of the slots in use the table shrinks.
//
// The steps that need no member of the map (lookups, the writers' find, the
// slot claim, load accounting, rehash moves) live in
// internal/flat_group_ops.h; this file holds the API, the table, the gate
// and the counters.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/hash/hash.h"
#include "syncscope/map/concurrent_map.h"
#include "syncscope/map/internal/flat_group_ops.h"
#include "syncscope/map/internal/flat_group_table.h"
#include "syncscope/map/internal/map_counters.h"
#include "syncscope/map/internal/reentrancy_check.h"
#include "syncscope/map/internal/registration.h"
#include "syncscope/map/internal/striped_rw_lock.h"
#include "syncscope/map/map_events.h"
#include "syncscope/map/map_stats.h"

namespace syncscope::map {

template <class K, class V, class Hash = absl::Hash<K>, class Eq = std::equal_to<K>>
  requires MapKey<K, Hash, Eq>
class FlatGroupMap {
  static_assert(std::is_nothrow_move_constructible_v<K> && std::is_nothrow_move_constructible_v<V>,
                "a rehash moves every key and value and cannot undo a move that throws");

 public:
  using key_type = K;
  using mapped_type = V;

  // Whether reads are seqlock-validated copies that write no shared line.
  static constexpr bool kOptimisticReads =
      internal::FlatGroupOps<K, V, Hash, Eq>::kOptimisticReads;

  explicit FlatGroupMap(MapOptions options = {})
      : name_(std::move(options.name)),
        table_(std::make_unique<Table>(Table::groups_for(options.initial_capacity))) {
    registration_.attach(name_, [this] { return stats(); });
  }
  ~FlatGroupMap() {
    registration_.detach();
    Ops::destroy_elements(*table_);
  }
  FlatGroupMap(const FlatGroupMap&) = delete;
  FlatGroupMap& operator=(const FlatGroupMap&) = delete;

  std::optional<V> load(const K& key) const
    requires std::copy_constructible<V>
  {
    const HashedKey h = Ops::hash_of(key);
    std::optional<V> out;  // destroyed by the caller, unlocked
    Check held(this);
    internal::SharedStripe gate(gate_);
    if (Ops::lookup(*table_, key, h, [&](const Slot& s) { out.emplace(s.value.get()); })) {
      counters_.bump(internal::Counter::kHits);
      return out;
    }
    counters_.bump(internal::Counter::kMisses);
    return std::nullopt;  // `out` may hold a discarded optimistic copy
  }

  // The family's visit() rule: copyable values are copied (load) and f runs
  // on the copy with no lock held; move-only values are lent under the
  // group's shared lock, and f must not call this map.
  template <class F>
    requires VisitCallback<F, V>
  bool visit(const K& key, F&& f) const {
    if constexpr (std::is_copy_constructible_v<V>) {
      return internal::visit_by_copy(*this, key, f);
    } else {
      static_assert(!kOptimisticReads);
      const HashedKey h = Ops::hash_of(key);
      Check held(this);
      internal::SharedStripe gate(gate_);
      const bool hit = Ops::lookup(*table_, key, h, [&](const Slot& s) { f(s.value.get()); });
      counters_.bump(hit ? internal::Counter::kHits : internal::Counter::kMisses);
      return hit;
    }
  }

  void store(const K& key, const V& value)
    requires std::copy_constructible<V>
  {
    store(key, V(value));  // copied before the table is touched
  }
  void store(const K& key, V&& value) {
    const HashedKey h = Ops::hash_of(key);
    std::optional<V> replaced;  // destroyed after every lock is released
    write_or_insert(
        key, h,
        [&](Slot& s) {
          replaced.emplace(s.value.take());
          s.value.construct(std::move(value));
        },
        [&](Slot& s) { s.value.construct(std::move(value)); });
  }

  std::optional<V> swap(const K& key, V value)
    requires std::copy_constructible<V>
  {
    const HashedKey h = Ops::hash_of(key);
    std::optional<V> previous;  // destroyed by the caller, unlocked
    write_or_insert(
        key, h,
        [&](Slot& s) {
          previous.emplace(s.value.take());
          s.value.construct(std::move(value));
        },
        [&](Slot& s) { s.value.construct(std::move(value)); });
    return previous;
  }

  LoadOrStoreResult<V> load_or_store(const K& key, const V& value)
    requires std::copy_constructible<V>
  {
    const HashedKey h = Ops::hash_of(key);
    std::optional<V> existing;
    std::optional<V> copy;
    for (;;) {
      std::uint64_t generation = 0;
      {
        Check held(this);
        internal::SharedStripe gate(gate_);
        Table& t = *table_;
        // Hits (the common case in caches) are reads.
        if (Ops::lookup(t, key, h, [&](const Slot& s) { existing.emplace(s.value.get()); })) {
          return {std::move(*existing), true};
        }
        existing.reset();  // a discarded optimistic copy
        if (!copy) copy.emplace(value);  // before the table changes: a throwing copy changes nothing
        const Upsert r = upsert(
            t, gate.stripe(), key, h, [&](Slot& s) { existing.emplace(s.value.get()); },
            [&](Slot& s) { s.value.construct(std::move(*copy)); });
        if (r == Upsert::kFound) return {std::move(*existing), true};
        if (r == Upsert::kInserted) return {value, false};
        generation = generation_;
      }
      rehash(generation, Resize::kGrow);
    }
  }

  std::optional<V> load_and_delete(const K& key)
    requires std::copy_constructible<V>
  {
    std::optional<V> out;  // destroyed by the caller, unlocked
    remove_if(key, [](const Slot&) { return true; },
              [&](Slot& s) { out.emplace(s.value.take()); });
    return out;
  }

  bool erase(const K& key) {
    std::optional<V> removed;  // destroyed after every lock is released
    return remove_if(key, [](const Slot&) { return true; },
                     [&](Slot& s) { removed.emplace(s.value.take()); });
  }

  bool compare_and_delete(const K& key, const V& old_value)
    requires std::equality_comparable<V>
  {
    std::optional<V> removed;  // destroyed after every lock is released
    return remove_if(key, [&](const Slot& s) { return s.value.get() == old_value; },
                     [&](Slot& s) { removed.emplace(s.value.take()); });
  }

  bool compare_and_swap(const K& key, const V& old_value, const V& new_value)
    requires std::equality_comparable<V> && std::copy_constructible<V>
  {
    const HashedKey h = Ops::hash_of(key);
    std::optional<V> replaced;  // destroyed after every lock is released
    Check held(this);
    internal::SharedStripe gate(gate_);
    WriteHit hit = Ops::find_for_write(*table_, key, h);
    if (!hit || !(hit.slot->value.get() == old_value)) return false;
    V copy(new_value);  // a throwing copy leaves the old value in place
    replaced.emplace(hit.slot->value.take());
    hit.slot->value.construct(std::move(copy));
    return true;
  }

  // Copyable values: copies every entry with the gate held exclusively (no
  // write or rehash meanwhile: under a shared gate, a key erased from a group
  // already copied and stored again into a later one was copied twice), then
  // calls f on the copies with no lock held. Move-only
  // values: f runs under each group's shared lock and must not call this map.
  template <class F>
    requires RangeCallback<F, K, V>
  void range(F&& f) {
    if constexpr (std::is_copy_constructible_v<V>) {
      std::vector<std::pair<K, V>> copy;
      {
        Check held(this);
        internal::AllStripes gate(gate_);
        const Table& t = *table_;
        copy.reserve(size());
        for (std::size_t i = 0; i < t.group_count(); ++i) Ops::copy_group(t.group(i), copy);
      }
      for (const auto& entry : copy) {
        if (!internal::call_range_callback(f, entry.first, entry.second)) return;
      }
    } else {
      static_assert(!kOptimisticReads);
      Check held(this);
      internal::SharedStripe gate(gate_);
      const Table& t = *table_;
      for (std::size_t i = 0; i < t.group_count(); ++i) {
        const Group& g = t.group(i);
        std::shared_lock lk(g.lock);
        for (std::uint32_t bits = Ops::occupied(g); bits != 0; bits &= bits - 1) {
          const Slot& s = g.slots[std::countr_zero(bits)];
          if (!internal::call_range_callback(f, s.key.get(), s.value.get())) return;
        }
      }
    }
  }

  void clear() {
    auto fresh = std::make_unique<Table>(Table::kMinGroups);  // before any change
    std::unique_ptr<Table> old;
    {
      Check held(this);
      internal::AllStripes all(gate_);
      counters_.add_live(-static_cast<std::int64_t>(Ops::count_occupied(*table_)));
      gate_.reset_counts_locked();
      old = std::exchange(table_, std::move(fresh));
      ++generation_;
    }
    Ops::destroy_elements(*old);  // no lock held: the destructors may call this map
    emit_map_event(MapEvent{MapEventKind::kClear, name_, 0});
  }

  // Approximate, O(1): per-thread live counters (map_counters.h).
  std::size_t size() const noexcept {
    const std::int64_t n = counters_.live();
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }

  // Each group counted at the moment it is read; O(groups).
  std::size_t exact_size() const {
    Check held(this);
    internal::SharedStripe gate(gate_);
    return Ops::count_occupied(*table_);
  }

  MapStats stats() const {
    MapStats s;
    s.kind = "FlatGroupMap";
    s.hits = counters_.sum(internal::Counter::kHits);
    s.misses = counters_.sum(internal::Counter::kMisses);
    s.live_entries = static_cast<std::int64_t>(size());
    return s;
  }

  const std::string& name() const noexcept { return name_; }

  // Slots in the current table (for tests of the growth and shrink policy).
  std::size_t capacity() const {
    Check held(this);
    internal::SharedStripe gate(gate_);
    return table_->capacity();
  }

 private:
  using Ops = internal::FlatGroupOps<K, V, Hash, Eq>;
  using Slot = typename Ops::Slot;
  using Group = typename Ops::Group;
  using Table = typename Ops::Table;
  using WriteHit = typename Ops::WriteHit;
  using Claim = typename Ops::Claim;
  using HashedKey = internal::HashedKey;
  using Stripe = internal::StripedRwLock::Stripe;
  using Check = internal::ReentrancyCheck::Scope;

  enum class Upsert { kFound, kInserted, kNeedsRehash };
  enum class Resize { kGrow, kShrink };

  // Runs on_found(slot) under the key's group lock if key is present, else
  // inserts key with build(slot) (which must not throw), growing the table
  // as needed.
  template <class OnFound, class Build>
  Upsert write_or_insert(const K& key, const HashedKey& h, OnFound&& on_found, Build&& build) {
    for (;;) {
      std::uint64_t generation = 0;
      {
        Check held(this);
        internal::SharedStripe gate(gate_);
        const Upsert r = upsert(*table_, gate.stripe(), key, h, on_found, build);
        if (r != Upsert::kNeedsRehash) return r;
        generation = generation_;
      }
      rehash(generation, Resize::kGrow);
    }
  }

  // Precondition: the gate held shared.
  template <class OnFound, class Build>
  Upsert upsert(Table& t, Stripe& stripe, const K& key, const HashedKey& h, OnFound&& on_found,
                Build&& build) {
    Group& home = t.group(t.home(h));
    for (;;) {
      // [I1] acquire: an insert from this home whose bump we see tagged its
      // slot before the bump, so the lookup below sees the tag (and then
      // waits on that group's lock). Pairs with [I2].
      const std::uint32_t seen = home.insert_count.load(std::memory_order_acquire);
      if (WriteHit hit = Ops::find_for_write(t, key, h)) {
        on_found(*hit.slot);
        return Upsert::kFound;
      }
      if (!Ops::reserve_insert(t, stripe)) return Upsert::kNeedsRehash;
      Claim claim = Claim::kFull;
      try {
        claim = Ops::try_insert(t, home, seen, key, h, build);
      } catch (...) {
        Ops::unreserve_insert(stripe);
        throw;
      }
      if (claim == Claim::kInserted) {
        counters_.add_live(+1);
        return Upsert::kInserted;
      }
      Ops::unreserve_insert(stripe);
      if (claim == Claim::kFull) return Upsert::kNeedsRehash;
    }
  }

  // Removes key if pred(slot) holds; take(slot) moves the value out (it is
  // destroyed by the caller, unlocked).
  template <class Pred, class Take>
  bool remove_if(const K& key, Pred&& pred, Take&& take) {
    const HashedKey h = Ops::hash_of(key);
    bool shrink = false;
    std::uint64_t generation = 0;
    {
      Check held(this);
      internal::SharedStripe gate(gate_);
      Table& t = *table_;
      WriteHit hit = Ops::find_for_write(t, key, h);
      if (!hit || !pred(*hit.slot)) return false;
      take(*hit.slot);
      hit.slot->key.destroy();
      // relaxed: under the group's lock.
      const bool overflowed = hit.group->meta.load(std::memory_order_relaxed).any_overflow();
      hit.group->meta.clear_tag(hit.index);
      hit.lock.unlock();
      counters_.add_live(-1);
      shrink = Ops::note_erase(t, gate.stripe(), overflowed);
      generation = generation_;
    }
    if (shrink) {
      // The erase has happened; a shrink that cannot be afforded now (a
      // throwing Hash or allocation) is skipped, and tried again at the
      // next trigger.
      try {
        rehash(generation, Resize::kShrink);
      } catch (...) {
      }
    }
    return true;
  }

  // Rehashes into a table sized for the current keys (growth, shrink, or
  // the same size to clear overflow bits), under the gate's exclusive side.
  // seen_generation: the table the caller found wanting; if another thread
  // replaced it meanwhile, there is nothing to do.
  void rehash(std::uint64_t seen_generation, Resize why) {
    std::unique_ptr<Table> old;
    Check held(this);
    internal::AllStripes all(gate_);
    if (generation_ != seen_generation) return;
    Table& t = *table_;
    const std::size_t n = Ops::count_occupied(t);
    const std::size_t groups = Table::groups_for(n);
    if (why == Resize::kShrink && groups >= t.group_count()) return;
    auto fresh = std::make_unique<Table>(groups);  // may throw: nothing changed yet
    Ops::move_all(t, *fresh, n);
    // relaxed: under the gate's exclusive side.
    fresh->load.store(static_cast<std::int64_t>(n), std::memory_order_relaxed);
    gate_.reset_counts_locked();
    old = std::exchange(table_, std::move(fresh));
    ++generation_;
    // `old`, freed after the gate is released, holds no live key or value.
  }

  const std::string name_;
  // Shared by every operation, exclusive for rehash and clear; its stripes
  // also count inserts not yet added to table_->load.
  mutable internal::StripedRwLock gate_;
  // Guarded by gate_: read under its shared side, replaced under its
  // exclusive side (a rehash or clear). Never null.
  std::unique_ptr<Table> table_;
  // Guarded by gate_ like table_: bumped whenever table_ is replaced, so a
  // thread that asked for a rehash can tell whether another did it first.
  std::uint64_t generation_ = 0;
  mutable internal::MapCounters counters_;
  internal::Registration registration_;
};

}  // namespace syncscope::map
