// ReadMostlyMap: Go's sync.Map algorithm in C++.
//
// When to use it — and when not. Most code should use LockedMap or
// ShardedMap. ReadMostlyMap pays off in the two cases Go documents for
// sync.Map: (1) a key is written once and read many times, as in caches that
// only grow, and (2) many threads read, write and overwrite disjoint sets of
// keys. Then loads are lock-free, write no shared cache line, and scale with
// cores. Workloads that keep adding new keys pay a full copy of the snapshot
// now and then (see "dirty rebuild" below); use ShardedMap for them.
//
// Contract (see concurrent_map.h for the family-wide one):
//   * Every operation but range() and clear() is linearizable. In Go's terms
//     load, load_and_delete (hit), swap's read part, compare_and_* are reads
//     or writes as sync.Map classifies them; a write "synchronizes before"
//     any read that observes its effect (release/acquire on the entry).
//   * range() takes the map's read protection for the whole call: references
//     passed to the callback stay valid during the callback, and the callback
//     may call any method of this map. A callback that blocks keeps retired
//     memory from being freed — pinned_readers() names such a thread.
//   * Values: load() copies the value out; visit() lends a const reference for
//     the duration of the callback (works for move-only values).
//   * Exception safety: an exception from Hash, Eq, an allocation, or V's
//     copy/move thrown before an operation takes effect leaves the map
//     unchanged (strong guarantee). swap() and load_and_delete() copy the
//     old value after taking effect: if that copy throws, the operation has
//     happened and the exception propagates (basic guarantee). range() and
//     clear() give the basic guarantee.
//
// Implementation notes (the sync.Map design, with reclamation added):
//
//      read_  ──► Table (immutable once published)     dirty_ (under mu_)
//                 key ─► Entry* ◄────── shared ──────── key ─► Entry*
//                                Entry::p ─► ValueBox{V} | nullptr | kExpunged
//
//   A load looks the key up in the read snapshot without locking. Writes to
//   keys already in the snapshot CAS the entry's value pointer. New keys go
//   to the dirty map under mu_. Lookups that miss the snapshot while it is
//   "amended" (dirty has keys it lacks) take mu_ and count a miss; once misses
//   reach len(dirty) the dirty map is promoted to be the new snapshot (O(1)).
//   The first new key after a promotion rebuilds dirty by copying the
//   snapshot, marking deleted entries "expunged" so they are left out.
//   Beyond Go: when more than half the snapshot's entries are deleted, a
//   delete compacts it (rebuild + promote), so deleted keys never pin memory
//   indefinitely (Go issue 40999's complaint, where they could).
//
//   Values: word-sized scalars (integers, enums, pointers) are replaced in
//   place inside their box (internal/value_box.h): swap, store of an
//   existing key and compare_and_swap neither allocate nor retire. Other
//   values live in immutable boxes, one new box per write, as in Go.
//
//   Reclamation: old snapshots, expunged entries, deleted boxes and replaced
//   heap boxes are retired into the global EpochDomain and freed once no
//   reader can hold them. Every operation pins the domain while it touches
//   shared objects.
//
//   No destructor of K or V runs under mu_ (the family contract): freeing a
//   retired object runs them, so every operation that takes mu_ opens a
//   ReclaimDeferral first (retires under mu_ only hand objects over; the
//   reclaim they trigger runs after mu_ and the pin are released), and
//   objects an operation drops under mu_ without retiring (an old dirty
//   table, an extracted key, a box that lost a race) go into an Unlocked
//   holder destroyed after mu_ is released. Retires after an irreversible
//   step (a published snapshot) are reserved before it (reserve_retires), so
//   an allocation failure can never leave an object retired twice or not at
//   all.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "syncscope/map/concurrent_map.h"
#include "syncscope/map/internal/map_counters.h"
#include "syncscope/map/internal/reentrancy_check.h"
#include "syncscope/map/internal/registration.h"
#include "syncscope/map/internal/value_box.h"
#include "syncscope/map/map_events.h"
#include "syncscope/map/map_stats.h"
#include "syncscope/map/lock_contention.h"
#include "syncscope/reclaim/epoch_domain.h"

namespace syncscope::map {

template <class K, class V, class Hash = absl::Hash<K>, class Eq = std::equal_to<K>>
  requires MapKey<K, Hash, Eq>
class ReadMostlyMap {
 public:
  using key_type = K;
  using mapped_type = V;

  explicit ReadMostlyMap(MapOptions options = {})
      : name_(std::move(options.name)),
        domain_(reclaim::EpochDomain::global()),
        account_(reclaim::ReclaimAccount::create()) {
    // relaxed: not yet shared with any other thread.
    read_.store(tag(make_table(options.initial_capacity).release(), false),
                std::memory_order_relaxed);
    registration_.attach(name_, [this] { return stats(); });
  }

  ReadMostlyMap(const ReadMostlyMap&) = delete;
  ReadMostlyMap& operator=(const ReadMostlyMap&) = delete;

  // Precondition: no other thread uses the map. Retired objects already in
  // the domain are freed by it later; everything still linked is freed now.
  ~ReadMostlyMap() {
    registration_.detach();
    std::vector<Entry*> entries;
    std::unique_ptr<Table> dirty;
    ReadView r;
    {
      std::lock_guard lk(mu_);  // orders this against the last users' writes
      r = read_view();
      entries = all_entries_locked();  // a bad_alloc here ends the program (noexcept)
      dirty.reset(dirty_);
      dirty_ = nullptr;
    }
    // Destructors of keys and values run without mu_ (see the class comment).
    dirty.reset();
    for (Entry* e : entries) delete e;
    delete r.table;
    account_->release();
  }

  // ---- Reads -------------------------------------------------------------

  std::optional<V> load(const K& key) const
    requires std::copy_constructible<V>
  {
    std::optional<V> out;
    visit(key, [&out](const V& v) { out.emplace(v); });
    return out;
  }

  // Calls f(const V&) with the value for `key`, if any, while the value is
  // protected from reclamation. Returns whether the key had a value. The
  // reference is valid only during the call; f may call this map's methods.
  template <class F>
    requires VisitCallback<F, V>
  bool visit(const K& key, F&& f) const {
    auto guard = domain_.pin();
    Entry* e = find_entry(key);
    if (e == nullptr) return false;
    // acquire: pairs with the release CAS/exchange that installed the box,
    // so the value's construction is visible.
    ValueBox* b = e->p.load(std::memory_order_acquire);
    if (!is_live(b)) return false;
    return b->read(f);  // false: an in-place box killed by a concurrent delete
  }

  // ---- Writes ------------------------------------------------------------

  void store(const K& key, const V& value)
    requires std::copy_constructible<V>
  {
    if constexpr (kInPlace) {
      swap_in_place(key, value);
    } else {
      swap_box(key, std::make_unique<ValueBox>(value), /*want_previous=*/false);
    }
  }
  void store(const K& key, V&& value) {
    if constexpr (kInPlace) {
      swap_in_place(key, value);
    } else {
      swap_box(key, std::make_unique<ValueBox>(std::move(value)), /*want_previous=*/false);
    }
  }

  // Stores `value` and returns the previous value, if any.
  std::optional<V> swap(const K& key, V value)
    requires std::copy_constructible<V>
  {
    if constexpr (kInPlace) {
      return swap_in_place(key, value);
    } else {
      return swap_box(key, std::make_unique<ValueBox>(std::move(value)), /*want_previous=*/true);
    }
  }

  LoadOrStoreResult<V> load_or_store(const K& key, const V& value)
    requires std::copy_constructible<V>
  {
    {
      std::unique_ptr<ValueBox> spare;  // a box that lost a race; no lock held here
      auto guard = domain_.pin();
      const ReadView r = read_view();
      if (Entry* e = lookup(*r.table, key)) {
        if (auto res = try_load_or_store(e, value, spare)) return std::move(*res);
      }
    }
    Unlocked after(domain_);
    auto guard = domain_.pin();
    ReentrancyCheck::Scope held(this);
    std::lock_guard lk(mu_);
    const ReadView r = read_view();
    if (Entry* e = lookup(*r.table, key)) {
      revive_locked(key, e, after);
      return *try_load_or_store(e, value, after.box);  // cannot fail: not expunged under mu_
    }
    if (Entry* e = dirty_ != nullptr ? lookup(*dirty_, key) : nullptr) {
      auto res = *try_load_or_store(e, value, after.box);
      miss_locked();
      return res;
    }
    insert_new_locked(key, std::make_unique<ValueBox>(value), after);
    return {value, false};
  }

  std::optional<V> load_and_delete(const K& key)
    requires std::copy_constructible<V>
  {
    std::optional<V> out;
    delete_impl(key, [&out](const V& v) { out.emplace(v); });
    return out;
  }

  // Go's Delete. Returns whether a value was removed.
  bool erase(const K& key) {
    return delete_impl(key, [](const V&) {});
  }

  bool compare_and_swap(const K& key, const V& old_value, const V& new_value)
    requires std::equality_comparable<V> && std::copy_constructible<V>
  {
    if constexpr (!kInPlace) domain_.reserve_retires(1);  // in place: nothing is retired
    {
      // Lock-free path: no mu_, so nothing needs an Unlocked holder (as in
      // swap_box). A box that lost its race dies after the pin, unlocked.
      std::unique_ptr<ValueBox> spare;
      auto guard = domain_.pin();
      const ReadView r = read_view();
      if (Entry* e = lookup(*r.table, key)) {
        return try_compare_and_swap(e, old_value, new_value, spare);
      }
      if (!r.amended) return false;
    }
    Unlocked after(domain_);
    auto guard = domain_.pin();
    ReentrancyCheck::Scope held(this);
    std::lock_guard lk(mu_);
    const ReadView r2 = read_view();
    if (Entry* e = lookup(*r2.table, key)) {
      return try_compare_and_swap(e, old_value, new_value, after.box);
    }
    if (Entry* e = dirty_ != nullptr ? lookup(*dirty_, key) : nullptr) {
      const bool swapped = try_compare_and_swap(e, old_value, new_value, after.box);
      // The key set did not change; a promotion would make this faster next
      // time, so count it as a miss (as Go does).
      miss_locked();
      return swapped;
    }
    return false;
  }

  bool compare_and_delete(const K& key, const V& old_value)
    requires std::equality_comparable<V>
  {
    domain_.reserve_retires(1);
    Unlocked after(domain_);
    auto guard = domain_.pin();
    Entry* e = nullptr;
    bool from_read = true;
    const ReadView r = read_view();
    e = lookup(*r.table, key);
    std::optional<ReentrancyCheck::Scope> held;  // open while lk is held
    std::unique_lock lk(mu_, std::defer_lock);
    if (e == nullptr && r.amended) {
      held.emplace(this);
      lk.lock();
      const ReadView r2 = read_view();
      e = lookup(*r2.table, key);
      if (e == nullptr && dirty_ != nullptr) {
        // Keep the key in dirty: the "compare" part may fail. A deleted entry
        // is expunged by the next rebuild (as in Go).
        e = lookup(*dirty_, key);
        from_read = false;
        miss_locked();
      }
    }
    if (e == nullptr) return false;
    ValueBox* p = e->p.load(std::memory_order_acquire);  // acquire: see visit()
    if constexpr (kInPlace) {
      while (is_live(p)) {
        if (p->try_kill_if_equal(old_value)) {
          unlink_killed(e, p);
          on_deleted(p, from_read);
          if (lk.owns_lock()) lk.unlock();
          held.reset();
          maybe_compact(from_read);
          return true;
        }
        if (p->alive()) return false;  // unequal
        p = load_settled(e);
      }
      return false;
    } else {
      while (is_live(p) && p->value == old_value) {
        // acq_rel: release orders nothing new (the new state is "deleted")
        // but acquire makes the box we retire fully visible to us.
        if (e->p.compare_exchange_weak(p, nullptr, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
          on_deleted(p, from_read);
          if (lk.owns_lock()) lk.unlock();
          held.reset();
          maybe_compact(from_read);
          return true;
        }
      }
      return false;
    }
  }

  // ---- Whole-map operations ---------------------------------------------

  // Go's Range: see the class comment. f(const K&, const V&) returns bool
  // (false stops) or void.
  template <class F>
    requires RangeCallback<F, K, V>
  void range(F&& f) {
    auto guard = domain_.pin();
    ReadView r = read_view();
    if (r.amended) {
      // Promote first so the snapshot holds every key (O(1); Go does the same).
      Unlocked after(domain_);
      ReentrancyCheck::Scope held(this);
      std::lock_guard lk(mu_);
      r = read_view();
      if (r.amended) {
        promote_locked();
        r = read_view();
      }
    }
    for (const auto& slot : *r.table) {
      // Named, not a structured binding: clang 14 cannot capture those.
      const K& k = slot.first;
      ValueBox* b = slot.second->p.load(std::memory_order_acquire);  // acquire: see visit()
      if (!is_live(b)) continue;
      bool go_on = true;
      b->read([&](const V& v) { go_on = internal::call_range_callback(f, k, v); });
      if (!go_on) break;
    }
  }

  // Removes every key present when clear() starts (Go's Clear).
  void clear() {
    Unlocked after(domain_);
    auto guard = domain_.pin();
    ReentrancyCheck::Scope held(this);
    std::lock_guard lk(mu_);
    const ReadView r = read_view();
    if (r.table->empty() && dirty_ == nullptr) return;
    // Everything that can fail comes before the first change.
    const std::vector<Entry*> entries = all_entries_locked();
    auto empty = std::make_unique<Table>();
    domain_.reserve_retires(2 * entries.size() + 1);
    // release: publishes the empty table [pairs with the acquire in read_view].
    read_.store(tag(empty.release(), false), std::memory_order_release);
    after.table.reset(dirty_);  // its keys are destroyed after mu_ is released
    dirty_ = nullptr;
    misses_ = 0;
    expunged_.clear();  // every entry is retired below, expunged ones included
    for (Entry* e : entries) {
      // acq_rel: expunging makes lock-free writers that still hold `e` fail
      // and retry under mu_; acquire lets us read the box we retire.
      ValueBox* old = e->p.exchange(expunged(), std::memory_order_acq_rel);
      // An in-place box already killed belongs to its deleter, who retires
      // it; kill the others so that no writer still holding one changes it.
      if (is_live(old) && kill_for_clear(old)) {
        counters_.add_live(-1);
        domain_.retire(old, account_);
      }
      domain_.retire(e, account_);
    }
    domain_.retire(r.table, account_);
    emit(MapEventKind::kClear, 0);
  }

  // Approximate number of keys, O(1): the sum of per-thread live-entry
  // counters. Exact when no mutation is in flight; while mutations run
  // concurrently it can be off by at most the number of mutations that
  // overlap the call (each one is counted or not). Never negative.
  std::size_t size() const noexcept {
    const std::int64_t n = counters_.live();
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }

  // Number of keys with a value, O(N): walks the current key set under mu_.
  // Each key is counted at most once; a key present for the whole call is
  // counted. Prefer size() unless an exact count at quiescence is needed.
  std::size_t exact_size() const {
    auto guard = domain_.pin();
    ReentrancyCheck::Scope held(this);
    std::lock_guard lk(mu_);
    const ReadView r = read_view();
    const Table& t = dirty_ != nullptr ? *dirty_ : *r.table;
    std::size_t n = 0;
    for (const auto& [k, e] : t) {
      ValueBox* b = e->p.load(std::memory_order_acquire);  // acquire: see visit()
      if (is_live(b) && b->alive()) ++n;
    }
    return n;
  }

  // ---- Diagnostics --------------------------------------------------------

  MapStats stats() const {
    MapStats s;
    s.kind = "ReadMostlyMap";
    s.hits = counters_.sum(Counter::kHits);
    s.misses = counters_.sum(Counter::kMisses);
    s.promotions = counters_.sum(Counter::kPromotions);
    s.dirty_rebuilds = counters_.sum(Counter::kDirtyRebuilds);
    s.expunges = counters_.sum(Counter::kExpunges);
    s.compactions = counters_.sum(Counter::kCompactions);
    s.live_entries = static_cast<std::int64_t>(size());
    const reclaim::Backlog b = account_->backlog();
    s.retired_objects = b.objects;
    s.retired_bytes = b.bytes;
    s.pinned_readers = domain_.pinned_readers().size();
    return s;
  }

  // This map's retired-but-not-freed objects.
  reclaim::Backlog backlog() const noexcept { return account_->backlog(); }

  // Threads pinned in the (process-wide) epoch domain right now.
  std::vector<reclaim::PinnedReader> pinned_readers(
      std::chrono::nanoseconds min_age = std::chrono::nanoseconds::zero()) const {
    return domain_.pinned_readers(min_age);
  }

  // Frees whatever retired objects are already safe to free.
  void reclaim_now() { domain_.drain(); }

  const std::string& name() const noexcept { return name_; }

 private:
  using Counter = internal::Counter;
  using ReentrancyCheck = internal::ReentrancyCheck;

  // Word-sized scalars are replaced in place (internal/value_box.h); other
  // values live in immutable boxes, one per write.
  using ValueBox = typename internal::ValueBoxFor<V>::type;
  static constexpr bool kInPlace = ValueBox::kInPlace;

  // A key's slot, shared by the read snapshot and the dirty map.
  struct Entry {
    // Takes ownership of `box`; the destructor frees whatever value is current.
    explicit Entry(ValueBox* box) : p(box) {}
    // Frees the current value (the entry itself is unreachable by now).
    ~Entry() {
      ValueBox* b = p.load(std::memory_order_relaxed);  // relaxed: sole owner
      if (is_live(b)) delete b;
    }
    // The value. States and transitions (all by CAS/exchange, so lock-free
    // writers and mu_ holders agree):
    //   live box  -> live box   swap / compare_and_swap (old box retired)
    //   live box  -> nullptr    delete; the entry stays in the snapshot
    //   nullptr   -> live box   store to a deleted key found in the snapshot
    //   nullptr   -> kExpunged  dirty rebuild (under mu_): the entry is then
    //                           missing from dirty_ and is retired at the
    //                           next promotion unless revived
    //   kExpunged -> nullptr    unexpunge under mu_, before adding it back to
    //                           dirty_
    //   any       -> kExpunged  clear() (under mu_), right before retiring it
    // In-place boxes (internal/value_box.h) also change inside a live box:
    // swap / compare_and_swap write the value in place, and a delete first
    // kills the box and then unlinks it (live box -> nullptr); a killed box
    // still linked reads as nullptr (load_settled).
    // If p == kExpunged, dirty_ != nullptr and the entry is not in dirty_
    // (outside clear()). Otherwise, if dirty_ != nullptr, the entry is in it.
    std::atomic<ValueBox*> p;
  };

  using Table = absl::flat_hash_map<K, Entry*, Hash, Eq>;

  // The read snapshot as published: table pointer plus the "amended" bit
  // (dirty_ holds keys the table lacks).
  struct ReadView {
    Table* table;
    bool amended;
  };

  // What an operation drops while it holds mu_, destroyed once it has
  // released mu_ and its pin (it is declared before both): destructors of
  // K and V are user code, and user code that may call this map (or another
  // one) never runs under mu_. Its deferral closes last, so the reclaim that
  // retires under mu_ came due for runs after everything else.
  struct Unlocked {
    explicit Unlocked(reclaim::EpochDomain& domain) noexcept
        : deferral(domain.defer_reclaim()) {}
    reclaim::EpochDomain::ReclaimDeferral deferral;
    std::unique_ptr<Table> table;    // a replaced or half-built dirty table
    std::unique_ptr<Entry> entry;    // an entry whose insert into dirty_ failed
    std::unique_ptr<ValueBox> box;   // a box that lost its race, never published
    typename Table::node_type node;  // a key extracted from dirty_
  };

  // A table with room for `elements` keys, allocated in one step. absl's
  // reserve() and in-place growth set the new capacity before allocating,
  // so a bad_alloc there leaves a table that crashes when destroyed (absl
  // 20220623, raw_hash_set::resize); a constructor that throws leaves no
  // table at all. Sized as absl's reserve() sizes (GrowthToLowerboundCapacity).
  static std::unique_ptr<Table> make_table(std::size_t elements) {
    return std::make_unique<Table>(elements == 0 ? 0 : elements + (elements - 1) / 7);
  }

  // Requires mu_. Every entry of the snapshot and of dirty_, once each.
  std::vector<Entry*> all_entries_locked() const {
    const ReadView r = read_view();
    std::vector<Entry*> entries;
    entries.reserve(r.table->size() + (dirty_ != nullptr ? dirty_->size() : 0));
    for (const auto& [k, e] : *r.table) entries.push_back(e);
    if (dirty_ != nullptr) {
      for (const auto& [k, e] : *dirty_) entries.push_back(e);
    }
    std::sort(entries.begin(), entries.end());
    entries.erase(std::unique(entries.begin(), entries.end()), entries.end());
    return entries;
  }

  // Retires one operation makes besides a promotion's (delete_impl: the
  // entry and its box); a promotion reserves room for these too, since it
  // can run in the middle of the operation (miss_locked).
  static constexpr std::size_t kOpRetires = 2;

  static ValueBox* expunged() noexcept {
    alignas(ValueBox) static unsigned char sentinel;
    return reinterpret_cast<ValueBox*>(&sentinel);
  }
  static bool is_live(const ValueBox* b) noexcept { return b != nullptr && b != expunged(); }

  static std::uintptr_t tag(Table* t, bool amended) noexcept {
    static_assert(alignof(Table) >= 2, "the amended flag lives in the low pointer bit");
    return reinterpret_cast<std::uintptr_t>(t) | (amended ? 1u : 0u);
  }

  ReadView read_view() const noexcept {
    // acquire: pairs with the release stores that publish a table [promote,
    // rebuild, clear], so its contents and entries are visible.
    const std::uintptr_t v = read_.load(std::memory_order_acquire);
    return {reinterpret_cast<Table*>(v & ~std::uintptr_t{1}), (v & 1) != 0};
  }

  static Entry* lookup(const Table& t, const K& key) {
    auto it = t.find(key);
    return it == t.end() ? nullptr : it->second;
  }

  // Requires a pin. The entry for `key` from the snapshot, or (when amended)
  // from dirty_ under mu_, counting the miss.
  Entry* find_entry(const K& key) const {
    const ReadView r = read_view();
    if (Entry* e = lookup(*r.table, key)) {
      counters_.bump(Counter::kHits);
      return e;
    }
    if (!r.amended) return nullptr;
    Unlocked after(domain_);  // the caller's pin outlives it: the entry stays readable
    ReentrancyCheck::Scope held(this);
    std::lock_guard lk(mu_);
    const ReadView r2 = read_view();
    if (Entry* e = lookup(*r2.table, key)) return e;  // promoted meanwhile: no spurious miss
    if (!r2.amended) return nullptr;
    Entry* e = lookup(*dirty_, key);
    miss_locked();
    return e;
  }

  // Swaps in `box`. Returns the previous value if asked.
  std::optional<V> swap_box(const K& key, std::unique_ptr<ValueBox> box, bool want_previous) {
    domain_.reserve_retires(1);  // finish_swap's retire comes after the exchange
    {
      auto guard = domain_.pin();
      const ReadView r = read_view();
      if (Entry* e = lookup(*r.table, key)) {
        ValueBox* p = e->p.load(std::memory_order_acquire);  // acquire: see visit()
        while (p != expunged()) {
          // acq_rel: release publishes the new box's value to readers;
          // acquire lets us copy and retire the old one.
          if (e->p.compare_exchange_weak(p, box.get(), std::memory_order_acq_rel,
                                         std::memory_order_acquire)) {
            box.release();
            return finish_swap(p, want_previous);
          }
        }
      }
    }
    Unlocked after(domain_);
    auto guard = domain_.pin();
    ReentrancyCheck::Scope held(this);
    std::lock_guard lk(mu_);
    Entry* e = entry_for_write_locked(key, after);
    if (e == nullptr) {
      insert_new_locked(key, std::move(box), after);
      return std::nullopt;
    }
    // acq_rel: as for the CAS above.
    return finish_swap(e->p.exchange(box.release(), std::memory_order_acq_rel), want_previous);
  }

  // Requires mu_. The entry a write to `key` goes to: the snapshot's
  // (revived into dirty_ if it was expunged) or dirty_'s; nullptr when the
  // key is new.
  Entry* entry_for_write_locked(const K& key, Unlocked& after) {
    const ReadView r = read_view();
    if (Entry* e = lookup(*r.table, key)) {
      revive_locked(key, e, after);
      return e;
    }
    return dirty_ != nullptr ? lookup(*dirty_, key) : nullptr;
  }

  // Requires a pin (the old box stays readable after its retirement).
  std::optional<V> finish_swap(ValueBox* old, bool want_previous) {
    if (!is_live(old)) {
      counters_.add_live(+1);
      return std::nullopt;
    }
    domain_.retire(old, account_);
    std::optional<V> prev;
    if constexpr (std::is_copy_constructible_v<V>) {
      if (want_previous) prev.emplace(old->value);
    }
    return prev;
  }

  // Requires mu_. Adds a brand-new key to dirty_ (building it if needed).
  void insert_new_locked(const K& key, std::unique_ptr<ValueBox> box, Unlocked& after) {
    const ReadView r = read_view();
    if (!r.amended) {
      // First new key since the last promotion: rebuild dirty and mark the
      // snapshot amended.
      dirty_locked(after);
      // release: publishes the amended bit with the same table [pairs with
      // read_view's acquire].
      read_.store(tag(r.table, true), std::memory_order_release);
    }
    after.entry = std::make_unique<Entry>(box.get());
    box.release();  // the entry owns the box now
    ensure_room_locked(after);
    // May throw: the entry (and its box) are then freed after mu_ is released.
    dirty_->emplace(key, after.entry.get());
    after.entry.release();
    counters_.add_live(+1);
  }

  // ---- In-place values (internal/value_box.h) ---------------------------

  // Store/swap for in-place values: replaces the value inside the live box
  // (no allocation, no retire); a deleted key gets a new box, as in Go.
  std::optional<V> swap_in_place(const K& key, V value) {
    {
      std::unique_ptr<ValueBox> spare;  // a box that lost a race; no lock held here
      auto guard = domain_.pin();
      const ReadView r = read_view();
      if (Entry* e = lookup(*r.table, key)) {
        if (auto res = try_swap_in_place(e, value, spare)) return *res;
      }
    }
    Unlocked after(domain_);
    auto guard = domain_.pin();
    ReentrancyCheck::Scope held(this);
    std::lock_guard lk(mu_);
    Entry* e = entry_for_write_locked(key, after);
    if (e == nullptr) {
      insert_new_locked(key, std::make_unique<ValueBox>(value), after);
      return std::nullopt;
    }
    return *try_swap_in_place(e, value, after.box);  // cannot fail: not expunged under mu_
  }

  // Requires a pin. The previous value (nullopt: the key was deleted), or
  // nothing if the entry is expunged (the caller retries under mu_). A box
  // made but not published stays in `spare`.
  std::optional<std::optional<V>> try_swap_in_place(Entry* e, V value,
                                                    std::unique_ptr<ValueBox>& spare) {
    ValueBox* p = e->p.load(std::memory_order_acquire);  // acquire: see visit()
    while (true) {
      if (p == expunged()) return std::nullopt;
      if (is_live(p)) {
        V previous;
        if (p->try_exchange(value, previous)) return std::optional<V>(previous);
        p = load_settled(e);  // killed meanwhile: the key is deleted
        continue;
      }
      if (spare == nullptr) spare = std::make_unique<ValueBox>(value);
      // acq_rel: release publishes the new box; acquire lets us use a
      // competitor's box if we lose.
      if (e->p.compare_exchange_weak(p, spare.get(), std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        spare.release();
        counters_.add_live(+1);
        return std::optional<V>(std::nullopt);
      }
    }
  }

  // Requires a pin. e->p, with a killed in-place box still linked (its
  // deleter has not unlinked it yet) replaced by nullptr on the deleter's
  // behalf: a killed box reads as "deleted". Heap boxes are never killed.
  static ValueBox* load_settled(Entry* e) {
    ValueBox* p = e->p.load(std::memory_order_acquire);  // acquire: see visit()
    while (is_live(p) && !p->alive()) {
      // acq_rel: acquire lets us read whatever box replaced it; release
      // orders nothing new (nullptr carries no value).
      if (e->p.compare_exchange_weak(p, nullptr, std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        return nullptr;
      }
    }
    return p;
  }

  // Unlinks the in-place box the caller just killed (if nobody did it for
  // it, see load_settled). The caller retires it.
  static void unlink_killed(Entry* e, ValueBox* killed) {
    ValueBox* expected = killed;
    // acq_rel: as in load_settled. Failure: someone unlinked it already.
    e->p.compare_exchange_strong(expected, nullptr, std::memory_order_acq_rel,
                                 std::memory_order_relaxed);
  }

  // clear()'s kill of a live box it unlinked: true if clear() owns it now
  // (an in-place box already killed is retired by its deleter).
  static bool kill_for_clear(ValueBox* b) {
    if constexpr (kInPlace) {
      V ignored;
      return b->try_kill(ignored);
    } else {
      return true;
    }
  }

  // Requires a pin. Deletes the value for `key`, passing it to `f` first.
  template <class F>
  bool delete_impl(const K& key, F&& f) {
    {
      // Lock-free path (the key is in the snapshot, or absent and the
      // snapshot not amended): no mu_, so no Unlocked holder, and a retire
      // reserved only when there is a value to retire.
      auto guard = domain_.pin();
      const ReadView r = read_view();
      if (Entry* e = lookup(*r.table, key)) {
        // acquire: see visit(). Deleted or expunged: the key is absent.
        if (!is_live(e->p.load(std::memory_order_acquire))) return false;
        domain_.reserve_retires(1);  // delete_value retires the box
        const bool removed = delete_value(e, f, /*from_read=*/true);
        if (removed) maybe_compact(/*from_read=*/true);
        return removed;
      }
      if (!r.amended) return false;
    }
    domain_.reserve_retires(kOpRetires);
    Unlocked after(domain_);
    auto guard = domain_.pin();
    const ReadView r = read_view();
    Entry* e = lookup(*r.table, key);
    bool from_read = true;
    if (e == nullptr && r.amended) {
      ReentrancyCheck::Scope held(this);
      std::lock_guard lk(mu_);
      const ReadView r2 = read_view();
      e = lookup(*r2.table, key);
      if (e == nullptr && r2.amended) {
        from_read = false;
        auto it = dirty_->find(key);
        if (it != dirty_->end()) {
          e = it->second;
          after.node = dirty_->extract(it);  // the key is destroyed after mu_ is released
        }
        // Regardless of presence, record a miss: this key will take the slow
        // path until the dirty map is promoted.
        miss_locked();
        if (e != nullptr) {
          // Only in dirty_, now unlinked: no reader can reach it any more.
          // Retire it first (it stays readable: we are pinned), so a value
          // copy that throws in delete_value cannot leak it.
          domain_.retire(e, account_);
          return delete_value(e, f, /*from_read=*/false);
        }
      }
    }
    if (e == nullptr) return false;
    const bool removed = delete_value(e, f, from_read);
    if (removed) maybe_compact(from_read);
    return removed;
  }

  template <class F>
  bool delete_value(Entry* e, F& f, bool from_read) {
    ValueBox* p = e->p.load(std::memory_order_acquire);  // acquire: see visit()
    if constexpr (kInPlace) {
      while (is_live(p)) {
        V last;
        if (p->try_kill(last)) {
          unlink_killed(e, p);
          on_deleted(p, from_read);  // retired, still readable: we are pinned
          f(static_cast<const V&>(last));
          return true;
        }
        p = load_settled(e);
      }
      return false;
    } else {
      while (is_live(p)) {
        // acq_rel: acquire makes the box we hand to f and retire visible.
        if (e->p.compare_exchange_weak(p, nullptr, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
          on_deleted(p, from_read);             // retired, still readable: we are pinned
          f(static_cast<const V&>(p->value));  // a throwing copy leaves the delete done
          return true;
        }
      }
      return false;
    }
  }

  void on_deleted(ValueBox* old, bool from_read) {
    counters_.add_live(-1);
    if (from_read) counters_.add(Counter::kReadDeletes);
    domain_.retire(old, account_);
  }

  // Compaction (beyond Go): every 64th read-snapshot delete on a stripe
  // checks whether more than half the snapshot is dead and, if so, rebuilds
  // it without the deleted entries. Amortized O(1) per delete.
  void maybe_compact(bool from_read) {
    if (!from_read) return;
    if ((counters_.own(Counter::kReadDeletes) & 63) != 0) return;
    const ReadView r = read_view();
    const std::size_t table_size = r.table->size();
    if (table_size < 64 || size() * 2 > table_size) return;
    Unlocked after(domain_);
    ReentrancyCheck::Scope held(this);
    std::lock_guard lk(mu_);
    const ReadView r2 = read_view();
    if (r2.table->size() < 64 || size() * 2 > r2.table->size()) return;
    try {
      if (!r2.amended) {
        dirty_locked(after);
      }
      promote_locked();
    } catch (const std::bad_alloc&) {
      return;  // compaction is best effort, and the delete has happened
    }
    counters_.add(Counter::kCompactions);
    emit(MapEventKind::kCompaction, read_view().table->size());
  }

  // Requires e->p != kExpunged or mu_ (so it cannot become expunged). A box
  // made but not published stays in `spare`, for the caller to destroy once
  // it holds no lock.
  std::optional<LoadOrStoreResult<V>> try_load_or_store(Entry* e, const V& value,
                                                        std::unique_ptr<ValueBox>& spare) {
    ValueBox* p = e->p.load(std::memory_order_acquire);  // acquire: see visit()
    while (true) {
      if (p == expunged()) return std::nullopt;
      if (is_live(p)) {
        if constexpr (kInPlace) {
          V v;
          if (p->load(v)) return LoadOrStoreResult<V>{v, true};
          p = load_settled(e);  // killed meanwhile: the key is deleted
          continue;
        } else {
          return LoadOrStoreResult<V>{p->value, true};
        }
      }
      if (spare == nullptr) spare = std::make_unique<ValueBox>(value);
      // acq_rel: release publishes the box; acquire lets us read a
      // competitor's box if we lose.
      if (e->p.compare_exchange_weak(p, spare.get(), std::memory_order_acq_rel,
                                     std::memory_order_acquire)) {
        spare.release();
        counters_.add_live(+1);
        return LoadOrStoreResult<V>{value, false};
      }
    }
  }

  // Requires a reserved retire (reserve_retires). As try_load_or_store for
  // `spare`.
  bool try_compare_and_swap(Entry* e, const V& old_value, const V& new_value,
                            std::unique_ptr<ValueBox>& spare) {
    ValueBox* p = e->p.load(std::memory_order_acquire);  // acquire: see visit()
    if constexpr (kInPlace) {
      while (is_live(p)) {
        // A value that differs fails without taking the box's writer bit:
        // linearizable at the read, as for load().
        V current;
        if (p->load(current) && !(current == old_value)) return false;
        bool swapped = false;
        if (p->try_compare_and_swap(old_value, new_value, swapped)) return swapped;
        p = load_settled(e);  // killed meanwhile: the key is deleted
      }
      return false;
    } else {
      if (!is_live(p) || !(p->value == old_value)) return false;
      spare = std::make_unique<ValueBox>(new_value);
      while (true) {
        // acq_rel: as in swap_box.
        if (e->p.compare_exchange_weak(p, spare.get(), std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
          spare.release();
          domain_.retire(p, account_);
          return true;
        }
        if (!is_live(p) || !(p->value == old_value)) return false;
      }
    }
  }

  // Requires mu_. Expunged -> deleted; true if it was expunged (the caller
  // must then add it back to dirty_).
  static bool unexpunge_locked(Entry* e) {
    ValueBox* expected = expunged();
    // relaxed success: the entry's next value is published by the caller's
    // following exchange (acq_rel); acquire on failure is not needed either.
    return e->p.compare_exchange_strong(expected, nullptr, std::memory_order_relaxed);
  }

  // Requires mu_. Deleted -> expunged; true if the entry is (now) expunged.
  static bool try_expunge_locked(Entry* e) {
    ValueBox* p = e->p.load(std::memory_order_relaxed);  // relaxed: value not read
    while (p == nullptr) {
      // relaxed: expunged carries no data; writers that see it fall back to mu_.
      if (e->p.compare_exchange_weak(p, expunged(), std::memory_order_relaxed)) return true;
    }
    return p == expunged();
  }

  // Requires mu_. If `e` (found in the snapshot under `key`) is expunged,
  // makes it "deleted" again and adds it back to dirty_ — or, if that insert
  // throws, re-expunges it so the invariant at Entry::p still holds.
  void revive_locked(const K& key, Entry* e, Unlocked& after) {
    if (!unexpunge_locked(e)) return;
    try {
      ensure_room_locked(after);
      (*dirty_)[key] = e;
    } catch (...) {
      try_expunge_locked(e);  // still listed in expunged_, still absent from dirty_
      throw;
    }
  }

  // Requires mu_ and dirty_. absl's tables rehash in place when they grow,
  // and a Hash that throws midway through that rehash loses elements (and so
  // leaks entries). Grow by copying into a new table instead: a throwing Hash
  // then leaves dirty_ untouched.
  // The old table (its keys) is destroyed after mu_ is released.
  void ensure_room_locked(Unlocked& after) const {
    const std::size_t capacity = dirty_->capacity();
    const std::size_t growth = capacity - capacity / 8;  // absl's maximum load
    if (dirty_->size() + 1 <= growth) return;
    auto bigger = make_table(2 * (dirty_->size() + 1));  // see make_table
    try {
      for (const auto& [k, e] : *dirty_) bigger->emplace(k, e);
    } catch (...) {
      after.table = std::move(bigger);
      throw;
    }
    after.table.reset(dirty_);
    dirty_ = bigger.release();
  }

  // Requires mu_. Builds dirty_ from the snapshot if it does not exist.
  void dirty_locked(Unlocked& after) const {
    if (dirty_ != nullptr) return;
    const ReadView r = read_view();
    // Room for every snapshot key (some are expunged instead), so that no
    // emplace below grows the table in place (see make_table).
    auto dirty = make_table(std::max<std::size_t>(r.table->size(), 8));
    const std::size_t expunged_before = expunged_.size();
    try {
      expunged_.reserve(expunged_before + r.table->size());
      for (const auto& [k, e] : *r.table) {
        if (try_expunge_locked(e)) {
          expunged_.push_back(e);  // cannot throw: reserved
        } else {
          dirty->emplace(k, e);
        }
      }
    } catch (...) {
      // Undo the expunges so the map is exactly as before (strong guarantee).
      for (std::size_t i = expunged_before; i < expunged_.size(); ++i) {
        unexpunge_locked(expunged_[i]);
      }
      expunged_.resize(expunged_before);
      after.table = std::move(dirty);  // its key copies die after mu_ is released
      throw;
    }
    counters_.add(Counter::kExpunges, expunged_.size() - expunged_before);
    dirty_ = dirty.release();
    counters_.add(Counter::kDirtyRebuilds);
    emit(MapEventKind::kDirtyRebuild, dirty_->size());
  }

  // Requires mu_.
  void miss_locked() const {
    counters_.add(Counter::kMisses);
    if (++misses_ < dirty_->size()) return;
    try {
      promote_locked();
    } catch (const std::bad_alloc&) {
      // Promotion is an optimization and changed nothing: the next miss
      // tries again. A lookup never fails for want of memory.
    }
  }

  // Requires mu_ and dirty_ != nullptr. dirty_ becomes the snapshot. Throws
  // only std::bad_alloc, and only before changing anything: the retires
  // after the publication are reserved first, so an entry is retired
  // exactly once (expunged_ is cleared with them).
  void promote_locked() const {
    domain_.reserve_retires(expunged_.size() + 1 + kOpRetires);
    const ReadView old = read_view();
    // release: publishes dirty_'s contents as the new snapshot.
    read_.store(tag(dirty_, false), std::memory_order_release);
    const std::size_t entries = dirty_->size();
    dirty_ = nullptr;
    misses_ = 0;
    for (Entry* e : expunged_) {
      // relaxed: under mu_ no one else changes an expunged entry.
      if (e->p.load(std::memory_order_relaxed) == expunged()) domain_.retire(e, account_);
    }
    // dirty_locked reserved room for the whole snapshot; give it back.
    std::vector<Entry*>().swap(expunged_);
    domain_.retire(old.table, account_);
    counters_.add(Counter::kPromotions);
    emit(MapEventKind::kPromotion, entries);
  }

  void emit(MapEventKind kind, std::size_t entries) const noexcept {
    emit_map_event(MapEvent{kind, name_, entries});
  }

  const std::string name_;
  reclaim::EpochDomain& domain_;
  reclaim::ReclaimAccount* const account_;  // this map's share of the backlog

  // The fields below change on lookups too (misses promote the dirty map), so
  // they are mutable: a const map is still a concurrent, self-tuning map.

  // The read snapshot: Table* | amended bit. Always safe to load (under a
  // pin); stored only with mu_ held. The table it points to is immutable.
  mutable std::atomic<std::uintptr_t> read_{0};

  mutable internal::TimedMutex mu_;  // timed when contended (lock_contention.h)
  // Keys not yet in the snapshot plus every non-expunged snapshot entry
  // (when the snapshot is amended). nullptr right after a promotion; rebuilt
  // on the next new key. Guarded by mu_.
  mutable Table* dirty_ = nullptr;
  // Lookups that needed mu_ since the last promotion; promotion at
  // misses_ >= dirty_->size(). Guarded by mu_.
  mutable std::size_t misses_ = 0;
  // Entries expunged by the current dirty_'s rebuild; retired at the next
  // promotion unless revived. Guarded by mu_.
  mutable std::vector<Entry*> expunged_;

  mutable internal::MapCounters counters_;
  internal::Registration registration_;
};

}  // namespace syncscope::map
