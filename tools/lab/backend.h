// A stand-in for the remote service the cache's refresh tasks ask: requests
// are answered by a responder thread a few milliseconds later, except that a
// fraction of them is silently dropped, so the asking task waits for a reply
// that never comes (the article's goroutine that never finishes). The number
// of dropped requests is capped, which bounds the scenario's leak.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace syncscope::lab {

// One outstanding request. Shared by the asking task and, until it answers
// or drops it, the backend. A dropped Reply is reachable only from the task
// that waits on it: nothing can ever wake that task.
struct Reply {
  std::mutex mu;
  std::condition_variable cv;
  bool ready = false;          // guarded by mu
  std::uint64_t answer = 0;    // guarded by mu; valid when ready
};

class Backend {
 public:
  // `lost_permille` of requests are dropped, at most `max_lost` in all.
  Backend(unsigned lost_permille, std::size_t max_lost);
  ~Backend();  // stop()
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;

  // Sends a request about `key`; the reply arrives in the returned object.
  std::shared_ptr<Reply> ask(std::uint64_t key);
  void stop();

  std::uint64_t asked() const noexcept;
  std::uint64_t lost() const noexcept;

 private:
  void respond_loop(const std::stop_token& stop);

  const unsigned lost_permille_;
  const std::size_t max_lost_;
  std::mutex mu_;
  std::condition_variable_any cv_;
  std::deque<std::pair<std::uint64_t, std::shared_ptr<Reply>>> pending_;  // guarded by mu_
  std::uint64_t seq_ = 0;  // requests answered or dropped; responder thread only
  // Counters read by summary(); relaxed: statistics only, no ordering needed.
  std::atomic<std::uint64_t> asked_{0};
  std::atomic<std::uint64_t> lost_{0};
  std::jthread responder_;  // last: started after every field above exists
};

}  // namespace syncscope::lab
