#include "backend.h"

#include <chrono>
#include <utility>
#include <vector>

namespace syncscope::lab {
namespace {

// SplitMix64 finalizer: a well-mixed, deterministic choice of lost requests.
std::uint64_t mix(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

}  // namespace

Backend::Backend(unsigned lost_permille, std::size_t max_lost)
    : lost_permille_(lost_permille),
      max_lost_(max_lost),
      responder_([this](const std::stop_token& stop) { respond_loop(stop); }) {}

Backend::~Backend() { stop(); }

void Backend::stop() {
  if (!responder_.joinable()) return;
  responder_.request_stop();
  cv_.notify_all();
  responder_.join();
  std::lock_guard lk(mu_);
  pending_.clear();
}

std::shared_ptr<Reply> Backend::ask(std::uint64_t key) {
  auto reply = std::make_shared<Reply>();
  {
    std::lock_guard lk(mu_);
    pending_.emplace_back(key, reply);
  }
  // relaxed: a statistic.
  asked_.fetch_add(1, std::memory_order_relaxed);
  cv_.notify_one();
  return reply;
}

void Backend::respond_loop(const std::stop_token& stop) {
  std::vector<std::pair<std::uint64_t, std::shared_ptr<Reply>>> batch;
  while (!stop.stop_requested()) {
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, stop, [this] { return !pending_.empty(); });
      // Answer in batches, a few milliseconds late, like a remote service.
      lk.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      lk.lock();
      batch.assign(std::make_move_iterator(pending_.begin()), std::make_move_iterator(pending_.end()));
      pending_.clear();
    }
    for (auto& [key, reply] : batch) {
      const std::uint64_t n = seq_++;  // only the responder touches seq_ after construction
      // relaxed: lost_ is only a statistic and a cap checked by this thread alone.
      if (mix(n) % 1000 < lost_permille_ && lost_.load(std::memory_order_relaxed) < max_lost_) {
        lost_.fetch_add(1, std::memory_order_relaxed);
        continue;  // dropped: our reference goes with `batch`
      }
      {
        std::lock_guard rl(reply->mu);
        reply->ready = true;
        reply->answer = key ^ n;
      }
      reply->cv.notify_all();
    }
    batch.clear();
  }
}

std::uint64_t Backend::asked() const noexcept {
  return asked_.load(std::memory_order_relaxed);  // relaxed: a statistic
}
std::uint64_t Backend::lost() const noexcept {
  return lost_.load(std::memory_order_relaxed);  // relaxed: a statistic
}

}  // namespace syncscope::lab
