// State shared by the debug server's handlers for one run of the server.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "http/canceller.h"
#include "syncscope/http/debug_server.h"

namespace syncscope::http::internal {

// How long a task must be alive to count as resident (DESIGN §3).
inline constexpr int kResidentAfterSeconds = 10;

struct RequestCounters {
  // Responses by status class: [1] = 1xx ... [5] = 5xx; [0] unused.
  std::array<std::atomic<std::uint64_t>, 6> by_class{};
  // Requests with ?seconds=N being served right now; bounded so long
  // requests cannot occupy every worker and starve /metrics.
  std::atomic<int> long_running{0};
};

struct ServerContext {
  Options options;
  Canceller canceller;
  RequestCounters counters;
};

// RAII slot for a long-running request; ok() is false when the limit is hit.
class LongRequestSlot {
 public:
  explicit LongRequestSlot(ServerContext& ctx) : ctx_(ctx) {
    const int limit = ctx.options.max_concurrency > 1 ? ctx.options.max_concurrency - 1 : 1;
    // relaxed: a counter bounding concurrency; it publishes no other data.
    ok_ = ctx_.counters.long_running.fetch_add(1, std::memory_order_relaxed) < limit;
  }
  ~LongRequestSlot() {
    // relaxed: see the constructor.
    ctx_.counters.long_running.fetch_sub(1, std::memory_order_relaxed);
  }
  LongRequestSlot(const LongRequestSlot&) = delete;
  LongRequestSlot& operator=(const LongRequestSlot&) = delete;
  bool ok() const { return ok_; }

 private:
  ServerContext& ctx_;
  bool ok_ = false;
};

}  // namespace syncscope::http::internal
