// Bounded per-thread free lists of fixed-size nodes — the C++ counterpart of
// the free list / sync.Pool in the article's fourth design. A thread frees a
// node into its own list (no lock, no shared cache line) and allocates from
// it first. Each list holds at most limit() nodes; beyond that nodes go back
// to the global allocator, so the pool never grows without bound: at most
// (live threads x limit) nodes are cached. A thread's list is freed when the
// thread exits.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

namespace syncscope::map::internal {

struct NodePoolStats {
  std::uint64_t reuses = 0;       // allocations served from a free list
  std::uint64_t allocations = 0;  // allocations that went to the allocator
  std::uint64_t cached = 0;       // nodes sitting in free lists now
};

// One pool per node type, shared by every map whose nodes have that type.
template <class Node>
class NodePool {
 public:
  static constexpr std::size_t kBytes = std::max(sizeof(Node), sizeof(void*));
  static constexpr std::align_val_t kAlign{std::max(alignof(Node), alignof(void*))};

  static void* allocate() {
    Cache& c = cache();
    if (FreeNode* n = c.head) {
      c.head = n->next;
      c.set_count(c.count() - 1);
      c.bump(c.reuses);
      return n;
    }
    c.bump(c.allocations);
    if (void* spare = c.spare) {  // reserve_one() allocated it earlier
      c.spare = nullptr;
      return spare;
    }
    return ::operator new(kBytes, kAlign);
  }

  // Makes the calling thread's next allocate() unable to fail: a table
  // claims its slot before it allocates the node, so a node allocation that
  // throws would leave a phantom entry. Called before a map takes its lock;
  // may throw std::bad_alloc (then nothing changed).
  static void reserve_one() {
    Cache& c = cache();
    if (c.head != nullptr || c.spare != nullptr) return;
    c.spare = ::operator new(kBytes, kAlign);
  }

  static void deallocate(void* p) noexcept {
    Cache& c = cache();
    // relaxed: a tuning knob; any recent value will do.
    if (c.count() >= limit_.load(std::memory_order_relaxed)) {
      ::operator delete(p, kAlign);  // unsized: clang needs -fsized-deallocation otherwise
      return;
    }
    c.head = ::new (p) FreeNode{c.head};
    c.set_count(c.count() + 1);
  }

  // Nodes a thread may cache (process-wide for this node type; set through
  // PooledShardedMap::set_max_cached_nodes_per_thread).
  static void set_limit(std::size_t n) noexcept {
    // relaxed: a tuning knob.
    limit_.store(n, std::memory_order_relaxed);
  }
  static std::size_t limit() noexcept { return limit_.load(std::memory_order_relaxed); }

  static NodePoolStats stats() {
    Registry& r = registry();
    std::lock_guard lk(r.mu);
    NodePoolStats s = r.retired;
    for (Cache* c = r.head; c != nullptr; c = c->next_cache) {
      // relaxed: statistics written by each cache's owner.
      s.reuses += c->reuses.load(std::memory_order_relaxed);
      s.allocations += c->allocations.load(std::memory_order_relaxed);
      s.cached += c->count();
    }
    return s;
  }

 private:
  struct FreeNode {
    FreeNode* next;
  };

  struct Cache;
  struct Registry {
    std::mutex mu;
    Cache* head = nullptr;  // guarded by mu
    NodePoolStats retired;         // counts of exited threads; guarded by mu
  };

  // A thread's free list. Only the owner touches head; the atomics are read
  // by stats() from other threads.
  struct Cache {
    FreeNode* head = nullptr;
    void* spare = nullptr;  // one node allocated ahead by reserve_one(); owner-only
    std::atomic<std::uint64_t> cached{0};
    std::atomic<std::uint64_t> reuses{0};
    std::atomic<std::uint64_t> allocations{0};
    Cache* next_cache = nullptr;  // registry list; guarded by Registry::mu
    Cache* prev_cache = nullptr;  // guarded by Registry::mu

    Cache() {
      Registry& r = registry();
      std::lock_guard lk(r.mu);
      next_cache = r.head;
      if (r.head != nullptr) r.head->prev_cache = this;
      r.head = this;
    }
    ~Cache() {
      if (spare != nullptr) ::operator delete(spare, kAlign);
      while (FreeNode* n = head) {
        head = n->next;
        ::operator delete(static_cast<void*>(n), kAlign);
      }
      Registry& r = registry();
      std::lock_guard lk(r.mu);
      r.retired.reuses += reuses.load(std::memory_order_relaxed);
      r.retired.allocations += allocations.load(std::memory_order_relaxed);
      if (prev_cache != nullptr) prev_cache->next_cache = next_cache;
      if (next_cache != nullptr) next_cache->prev_cache = prev_cache;
      if (r.head == this) r.head = next_cache;
    }
    // relaxed (all three): owner-only writes, read by stats() for reporting.
    std::uint64_t count() const noexcept { return cached.load(std::memory_order_relaxed); }
    void set_count(std::uint64_t n) noexcept { cached.store(n, std::memory_order_relaxed); }
    static void bump(std::atomic<std::uint64_t>& v) noexcept {
      v.store(v.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    }
  };

  static Registry& registry() {
    static Registry* r = new Registry();  // never destroyed: caches die at thread exit
    return *r;
  }
  static Cache& cache() {
    thread_local Cache c;
    return c;
  }

  static inline std::atomic<std::size_t> limit_{256};
};

// Allocator that takes single `Node` allocations from NodePool<Node> and
// everything else (e.g. a hash table's slot array) from std::allocator.
template <class T, class Node>
struct PoolAllocator {
  using value_type = T;
  template <class U>
  struct rebind {
    using other = PoolAllocator<U, Node>;
  };

  PoolAllocator() noexcept = default;
  template <class U>
  PoolAllocator(const PoolAllocator<U, Node>&) noexcept {}  // NOLINT: implicit by design

  T* allocate(std::size_t n) {
    if constexpr (std::is_same_v<T, Node>) {
      if (n == 1) return static_cast<T*>(NodePool<Node>::allocate());
    }
    return std::allocator<T>{}.allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if constexpr (std::is_same_v<T, Node>) {
      if (n == 1) return NodePool<Node>::deallocate(p);
    }
    std::allocator<T>{}.deallocate(p, n);
  }

  template <class U>
  bool operator==(const PoolAllocator<U, Node>&) const noexcept {
    return true;
  }

  // See NodePool::reserve_one.
  static void reserve_node() { NodePool<Node>::reserve_one(); }
};

// std::allocator, plus one node per thread allocated ahead (reserve_node),
// so that a node-based table's insert, which claims its slot before it
// allocates the node, cannot fail after the claim.
template <class T, class Node>
struct ReservingAllocator {
  using value_type = T;
  template <class U>
  struct rebind {
    using other = ReservingAllocator<U, Node>;
  };

  ReservingAllocator() noexcept = default;
  template <class U>
  ReservingAllocator(const ReservingAllocator<U, Node>&) noexcept {}  // NOLINT: implicit by design

  T* allocate(std::size_t n) {
    if constexpr (std::is_same_v<T, Node>) {
      if (n == 1) {
        if (Node* spare = std::exchange(spare_slot().node, nullptr)) return spare;
      }
    }
    return std::allocator<T>{}.allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>{}.deallocate(p, n); }

  template <class U>
  bool operator==(const ReservingAllocator<U, Node>&) const noexcept {
    return true;
  }

  // May throw std::bad_alloc (then nothing changed). One node per thread.
  static void reserve_node() {
    Spare& s = spare_slot();
    if (s.node == nullptr) s.node = std::allocator<Node>{}.allocate(1);
  }

 private:
  struct Spare {
    Node* node = nullptr;
    ~Spare() {
      if (node != nullptr) std::allocator<Node>{}.deallocate(node, 1);
    }
  };
  static Spare& spare_slot() {
    thread_local Spare s;
    return s;
  }
};

}  // namespace syncscope::map::internal
