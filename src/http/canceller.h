// Canceller: lets long requests (?seconds=N) wait in a way DebugServer::stop()
// can cut short, so shutdown never waits out a 60-second trace. One per
// server run; handlers read token(), stop() calls cancel().
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>

namespace syncscope::http::internal {

class Canceller {
 public:
  std::stop_token token() const { return source_.get_token(); }

  // Sleeps for `d` or until cancel(). Returns true when the full duration
  // elapsed, false when cancelled.
  bool sleep_for(std::chrono::milliseconds d) const {
    std::mutex mu;
    std::condition_variable_any cv;
    std::unique_lock lock(mu);
    cv.wait_for(lock, source_.get_token(), d, [] { return false; });
    return !source_.stop_requested();
  }

  void cancel() { source_.request_stop(); }
  bool cancelled() const { return source_.stop_requested(); }

 private:
  std::stop_source source_;  // thread-safe by itself; one-shot per server run
};

}  // namespace syncscope::http::internal
