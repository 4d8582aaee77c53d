#include "prof/fast_unwind_places.h"

#include <pthread.h>

#include <atomic>
#include <cstdint>

namespace syncscope::prof::internal {
namespace {

// Per thread; trivial and zero-initialized, initial-exec so that reading it
// in a capture is one instruction and allocates nothing.
struct FastUnwindState {
  unsigned captures;  // captures taken without a place (stops counting at the threshold)
  bool holds_place;   // counted in g_places_taken until the thread exits
  bool exited;        // the key's destructor ran: never take a place again
};
__thread FastUnwindState tls_fast_unwind __attribute__((tls_model("initial-exec")));

// Places held by live threads; never above kFastUnwindPlaces.
constinit std::atomic<int> g_places_taken{0};
// Created at load (constructor below); the value of a thread holding a place
// is non-null, so its destructor runs at that thread's exit.
pthread_key_t g_place_key;
constinit bool g_place_key_ok = false;

void give_place_back(void*) noexcept {
  FastUnwindState& s = tls_fast_unwind;
  s.holds_place = false;
  s.exited = true;  // later captures in this thread's exit path step
  // relaxed: a count; the cache the place stood for is libunwind's to free.
  g_places_taken.fetch_sub(1, std::memory_order_relaxed);
}

// A fork child has one thread, the forking one: only its place stays taken.
void reset_places_in_child() noexcept {
  // relaxed: the child is single-threaded here.
  g_places_taken.store(tls_fast_unwind.holds_place ? 1 : 0, std::memory_order_relaxed);
}

__attribute__((constructor)) void create_place_key() {
  g_place_key_ok = pthread_key_create(&g_place_key, give_place_back) == 0;
  pthread_atfork(nullptr, nullptr, reset_places_in_child);
}

}  // namespace

bool may_unwind_fast() noexcept {
  FastUnwindState& s = tls_fast_unwind;
  if (s.holds_place) return true;
  if (s.exited || !g_place_key_ok) return false;
  if (s.captures < kCapturesBeforeFastUnwind) {
    ++s.captures;
    return false;
  }
  // relaxed: the count alone is shared; nothing is published with it.
  int taken = g_places_taken.load(std::memory_order_relaxed);
  while (taken < kFastUnwindPlaces) {
    if (g_places_taken.compare_exchange_weak(taken, taken + 1, std::memory_order_relaxed)) {
      s.holds_place = true;
      if (pthread_setspecific(g_place_key, &tls_fast_unwind) != 0) {
        // No destructor would give it back: hand it back now and step.
        s.holds_place = false;
        g_places_taken.fetch_sub(1, std::memory_order_relaxed);
        return false;
      }
      return true;
    }
  }
  return false;
}

int fast_unwind_places_taken() noexcept { return g_places_taken.load(std::memory_order_relaxed); }

}  // namespace syncscope::prof::internal
