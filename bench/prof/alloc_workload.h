// The allocation-heavy workload shared by the benchmarks and the overhead
// script: each thread keeps a window of live blocks of 8..4096 bytes and
// replaces a random one per operation (one malloc + one free per op).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace syncscope::prof::bench {

inline constexpr std::size_t kWindow = 4096;

// Runs `ops` replace operations; returns a checksum so nothing is elided.
inline std::uint64_t run_alloc_free(std::uint64_t seed, std::int64_t ops) {
  std::vector<void*> window(kWindow, nullptr);
  std::uint64_t x = seed | 1, sum = 0;
  for (std::int64_t i = 0; i < ops; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const std::size_t slot = x % kWindow;
    const std::size_t size = 8 + (x >> 20) % 4089;
    std::free(window[slot]);
    auto* p = static_cast<unsigned char*>(std::malloc(size));
    p[0] = static_cast<unsigned char>(i);
    sum += p[0];
    window[slot] = p;
  }
  for (void* p : window) std::free(p);
  return sum;
}

}  // namespace syncscope::prof::bench
