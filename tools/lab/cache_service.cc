#include "cache_service.h"

#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"

namespace syncscope::lab {
namespace {

[[gnu::noinline]] std::unique_ptr<std::byte[]> allocate_cache_payload(std::size_t n,
                                                                      std::uint64_t seed) {
  auto p = std::make_unique<std::byte[]>(n);
  // Touch every page so the bytes are really resident, and vary the content.
  for (std::size_t i = 0; i < n; i += 512) p[i] = static_cast<std::byte>((seed + i) & 0xff);
  return p;
}

std::uint64_t digest_of(const CacheValue& v) noexcept {
  std::uint64_t h = 1469598103934665603ULL;
  for (std::size_t i = 0; i < v.payload_size; i += 512) {
    h = (h ^ static_cast<std::uint64_t>(v.payload[i])) * 1099511628211ULL;
  }
  return h;
}

}  // namespace

[[gnu::noinline]] std::shared_ptr<const CacheValue> make_cache_value(std::uint64_t key,
                                                                     std::uint64_t version,
                                                                     std::size_t payload_bytes) {
  auto v = std::make_shared<CacheValue>();
  v->key = key;
  v->version = version;
  v->payload_size = payload_bytes;
  v->payload = allocate_cache_payload(payload_bytes, key * 131 + version);
  v->digest = digest_of(*v);
  return v;
}

CacheService::CacheService(SweepStyle style, CacheParams params)
    : style_(style),
      params_(params),
      cache_(syncscope::map::MapOptions{.name = "lab.cache"}),
      hits_(syncscope::map::MapOptions{.name = "lab.cache.hits"}),
      backend_(params.lost_permille, params.max_lost) {
  for (std::uint64_t k = 0; k < params_.entries; ++k) {
    cache_.store(k, make_cache_value(k, 0, params_.value_bytes));
  }
  if (style_ == SweepStyle::kBoundedPool) {
    pool_ = std::make_unique<BoundedPool>("lab-pool", params_.pool_workers, params_.pool_queue,
                                          params_.pool_deadline);
  }
}

CacheService::~CacheService() { stop(); }

void CacheService::start() {
  if (started_) return;
  started_ = true;
  tasks_.spawn("cache writer", [this] { writer_loop(); });
  tasks_.spawn("cache sweeper", [this] { sweeper_loop(); });
}

void CacheService::writer_loop() {
  std::uint64_t version = 1;
  std::uint64_t key = 0;
  while (!released()) {
    cache_.store(key, make_cache_value(key, version, params_.value_bytes));
    for (std::size_t i = 0; i < params_.counter_updates_per_tick; ++i) {
      const std::uint64_t k = (key + i) % params_.entries;
      hits_.store(k, hits_.load(k).value_or(0) + 1);
    }
    key = (key + 1) % params_.entries;
    if (key == 0) ++version;
    std::this_thread::sleep_for(params_.refresh_every);
  }
}

void CacheService::sweeper_loop() {
  while (!released()) {
    switch (style_) {
      case SweepStyle::kCaptureValue: sweep_capturing_value(); break;
      case SweepStyle::kCopyFields: sweep_copying_fields(); break;
      case SweepStyle::kLoadByKey: sweep_loading_by_key(); break;
      case SweepStyle::kBoundedPool: sweep_into_pool(); break;
    }
    std::this_thread::sleep_for(params_.sweep_every);
  }
}

bool CacheService::await_reply(std::uint64_t key, std::uint64_t* answer) {
  // relaxed: statistics.
  checks_.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<Reply> reply = backend_.ask(key);
  std::unique_lock lk(reply->mu);
  const bool got = wait_until(
      reply->cv, lk, [&] { return reply->ready || released(); }, "reply from backend");
  if (!got || !reply->ready) return false;
  *answer = reply->answer;
  return true;
}

// The leak: the task captures the shared_ptr handed to the range callback.
// While it waits for a reply that never comes, the value stays alive even
// after the writer has replaced it in the map.
void CacheService::sweep_capturing_value() {
  cache_.range([this](const std::uint64_t& key, const std::shared_ptr<const CacheValue>& value) {
    tasks_.spawn("refresh check", [this, key, value] {
      std::uint64_t answer = 0;
      if (await_reply(key, &answer) && answer != value->digest) {
        stale_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
      }
    });
  });
}

// Fix #1: copy the few fields the check needs; the value itself is never
// referenced outside the callback.
void CacheService::sweep_copying_fields() {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> work;  // key, digest
  work.reserve(params_.entries);
  cache_.range([&work](const std::uint64_t& key, const std::shared_ptr<const CacheValue>& value) {
    work.emplace_back(key, value->digest);
  });
  for (const auto& [key, digest] : work) {
    tasks_.spawn("refresh check (copy)", [this, key = key, digest = digest] {
      std::uint64_t answer = 0;
      if (await_reply(key, &answer) && answer != digest) {
        stale_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
      }
    });
  }
}

// Fix #2: range only collects keys; each task loads the value it needs, by
// key, when it needs it, and drops it right away.
void CacheService::sweep_loading_by_key() {
  std::vector<std::uint64_t> keys;
  keys.reserve(params_.entries);
  cache_.range([&keys](const std::uint64_t& key, const std::shared_ptr<const CacheValue>&) {
    keys.push_back(key);
  });
  for (const std::uint64_t key : keys) {
    tasks_.spawn("refresh check (load)", [this, key] {
      std::uint64_t answer = 0;
      if (!await_reply(key, &answer)) return;
      const std::optional<std::shared_ptr<const CacheValue>> value = cache_.load(key);
      if (value && answer != (*value)->digest) {
        stale_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
      }
    });
  }
}

// Fix #3: the same capturing task, but on a bounded pool whose deadline
// cancels a wait that takes too long, which releases the captured value.
void CacheService::sweep_into_pool() {
  cache_.range([this](const std::uint64_t& key, const std::shared_ptr<const CacheValue>& value) {
    auto check = [this, key, value] {
      std::uint64_t answer = 0;
      const bool got = await_reply(key, &answer);  // the executor's deadline cancels the wait
      if (!got) {
        cancelled_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
      } else if (answer != value->digest) {
        stale_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
      }
    };
    const bool queued = tasks_.spawn_with(
        [this](auto body) { return pool_->try_spawn("refresh check (pool)", std::move(body)); },
        std::move(check));
    if (!queued) dropped_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
  });
}

bool CacheService::stop() {
  if (tasks_.released()) return true;  // stopped before: only stop() releases
  tasks_.release();
  if (pool_) pool_->shutdown();
  // Waiting checks poll the release flag every 20 ms; allow a generous bound.
  const bool all_returned = tasks_.wait_all(std::chrono::seconds(5));
  backend_.stop();
  return all_returned;
}

std::string CacheService::summary() const {
  // relaxed loads: statistics.
  return absl::StrFormat(
      "%d cached values of %d KiB; %d refresh checks asked the backend, %d replies never came "
      "(capped at %d), %d stale answers, %d dropped (pool full), %d cancelled by deadline",
      params_.entries, params_.value_bytes / 1024, checks_.load(std::memory_order_relaxed),
      backend_.lost(), params_.max_lost, stale_.load(std::memory_order_relaxed),
      dropped_.load(std::memory_order_relaxed), cancelled_.load(std::memory_order_relaxed));
}

MapBacklog CacheService::backlog() const {
  return cache_.backlog();
}

}  // namespace syncscope::lab
