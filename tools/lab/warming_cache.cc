#include "warming_cache.h"

#include <thread>

#include "absl/strings/str_format.h"

namespace syncscope::lab {

WarmingCache::WarmingCache(WarmingCacheParams params)
    : params_(params),
      cache_(syncscope::map::MapOptions{.name = "lab.warming_cache"}),
      hits_(syncscope::map::MapOptions{.name = "lab.warming_cache.hits"}) {}

WarmingCache::~WarmingCache() { stop(); }

void WarmingCache::start() {
  if (started_) return;
  started_ = true;
  tasks_.spawn("cache warmer", [this] { writer_loop(); });
}

void WarmingCache::writer_loop() {
  std::uint64_t version = 0;
  for (std::uint64_t key = 0; key < params_.capacity && !tasks_.released(); ++key) {
    cache_.store(key, make_cache_value(key, version, params_.value_bytes));
    filled_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
    count_hits(key);
    std::this_thread::sleep_for(params_.fill_every);
  }
  for (std::uint64_t key = 0; !tasks_.released(); key = (key + 1) % params_.capacity) {
    if (key == 0) ++version;
    cache_.store(key, make_cache_value(key, version, params_.value_bytes));
    replaced_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
    count_hits(key);
    std::this_thread::sleep_for(params_.replace_every);
  }
}

void WarmingCache::count_hits(std::uint64_t key) {
  for (std::size_t i = 0; i < params_.counter_updates_per_write; ++i) {
    const std::uint64_t k = (key + i) % params_.capacity;
    hits_.store(k, hits_.load(k).value_or(0) + 1);
  }
}

bool WarmingCache::stop() {
  if (tasks_.released()) return true;  // stopped before: only stop() releases
  tasks_.release();
  const bool all_returned = tasks_.wait_all(std::chrono::seconds(5));
  cache_.reclaim_now();
  return all_returned;
}

std::string WarmingCache::summary() const {
  // relaxed loads: statistics.
  return absl::StrFormat("cache of %d values of %d KiB: %d keys filled while warming, then %d values replaced",
                         params_.capacity, params_.value_bytes / 1024, filled_.load(std::memory_order_relaxed),
                         replaced_.load(std::memory_order_relaxed));
}

MapBacklog WarmingCache::backlog() const {
  return cache_.backlog();
}

}  // namespace syncscope::lab
