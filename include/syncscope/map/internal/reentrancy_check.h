// Debug-build detection of the calls the family contract (concurrent_map.h)
// forbids: calling a map from user code that the map runs while it holds
// one of its own locks — a lock-based map's visit() callback (and range()'s
// for move-only values), or Hash, Eq or a key/value copy run under any
// map's lock. Such a call would self-deadlock (or, with a shared_mutex,
// throw "Resource deadlock avoided"); in a debug build it aborts at once
// with a message naming the cause.
//
// A map opens a Scope before it takes a lock and closes it after the lock
// is released. Opening a Scope for a map that already has one open on this
// thread is the forbidden call. Off (empty, free) when NDEBUG is defined,
// unless SYNCSCOPE_MAP_CHECK_REENTRANCY says otherwise; every translation
// unit of a program must see the same setting.
#pragma once

#include <cstdio>
#include <cstdlib>

#if !defined(SYNCSCOPE_MAP_CHECK_REENTRANCY)
#if defined(NDEBUG)
#define SYNCSCOPE_MAP_CHECK_REENTRANCY 0
#else
#define SYNCSCOPE_MAP_CHECK_REENTRANCY 1
#endif
#endif

namespace syncscope::map::internal {

class ReentrancyCheck {
 public:
#if SYNCSCOPE_MAP_CHECK_REENTRANCY
  class Scope {
   public:
    explicit Scope(const void* map) noexcept {
      Held& h = held();
      for (unsigned i = 0; i < h.depth && i < kMaxDepth; ++i) {
        if (h.maps[i] == map) forbidden_call();
      }
      if (h.depth < kMaxDepth) h.maps[h.depth] = map;
      ++h.depth;  // beyond kMaxDepth: counted, not checked
    }
    ~Scope() { --held().depth; }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
  };

 private:
  static constexpr unsigned kMaxDepth = 8;
  // The maps whose lock this thread holds, innermost last.
  struct Held {
    const void* maps[kMaxDepth];
    unsigned depth;
  };
  static Held& held() noexcept {
    thread_local Held h{};
    return h;
  }
  [[noreturn]] static void forbidden_call() noexcept {
    std::fputs(
        "syncscope: a map was called from user code it runs under its own lock "
        "(a lock-based map's visit() callback, or Hash, Eq or a copy constructor); "
        "this would deadlock. Copy the value out with load() and call the map "
        "after the callback returns.\n",
        stderr);
    std::abort();
  }
#else
  class Scope {
   public:
    explicit Scope(const void*) noexcept {}
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
  };
#endif
};

}  // namespace syncscope::map::internal
