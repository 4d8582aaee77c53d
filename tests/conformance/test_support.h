// Small helpers shared by the map suites: reproducible seeds, iteration
// scaling under sanitizers, and a deadline that turns a deadlock into a
// failed test instead of a ctest timeout.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>

namespace syncscope::map::testing {

// Sanitizer builds run the same tests with fewer iterations (TSan and ASan
// slow the maps down 5-20x); the normal build keeps the full counts.
#if defined(SYNCSCOPE_TSAN)
inline constexpr int kSanitizerDivisor = 8;
#elif defined(SYNCSCOPE_ASAN)
inline constexpr int kSanitizerDivisor = 4;
#else
inline constexpr int kSanitizerDivisor = 1;
#endif

inline constexpr long scaled(long normal_count, long minimum = 1) {
  const long v = normal_count / kSanitizerDivisor;
  return v < minimum ? minimum : v;
}

// The seed for a randomized test: SYNCSCOPE_SEED when set (to replay a
// failure), otherwise fresh. Bad values are reported, not silently ignored.
inline std::uint64_t test_seed() {
  if (const char* env = std::getenv("SYNCSCOPE_SEED"); env && *env) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(env, &end, 0);
    if (end && *end == '\0') return v;
    std::fprintf(stderr, "SYNCSCOPE_SEED='%s' is not an unsigned integer; using a fresh seed\n",
                 env);
  }
  std::random_device rd;
  return (std::uint64_t{rd()} << 32) ^ rd();
}

inline std::string seed_note(std::uint64_t seed) {
  return "seed " + std::to_string(seed) + " (replay with SYNCSCOPE_SEED=" +
         std::to_string(seed) + ")";
}

// Runs fn() on its own thread and waits up to `limit`. A map that deadlocks
// (e.g. a range callback re-entering the map) aborts the process with a
// message naming `what`, since a deadlocked thread cannot be joined.
template <class Fn>
void run_with_deadline(const char* what, std::chrono::seconds limit, Fn fn) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread t([&] {
    fn();
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, limit, [&] { return done; })) {
      std::fprintf(stderr, "DEADLOCK: %s did not finish within %lld s\n", what,
                   static_cast<long long>(limit.count()));
      std::fflush(stderr);
      std::abort();
    }
  }
  t.join();
}

}  // namespace syncscope::map::testing
