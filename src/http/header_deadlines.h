// HeaderDeadlines: closes connections that take longer than a limit to
// deliver a complete request head (request line and headers). The idle
// timeout alone cannot stop a slowloris client, which sends one byte just
// before every idle timeout; this bounds the whole head instead. Runs one
// thread, asleep while no deadline is armed.
//
// A connection is "closed" by shutdown(fd, SHUT_RDWR): the event loop then
// reads EOF and tears it down as usual. The fd is never closed here, and
// remove() (called from libmicrohttpd's CLOSED notification, which comes
// before libmicrohttpd closes the fd) takes the entry out under the same
// lock, so a shutdown never reaches a reused fd.
#pragma once

#include <chrono>
#include <condition_variable>
#include <thread>
#include <unordered_set>

#include "common/annotated_mutex.h"

namespace syncscope::http::internal {

class HeaderDeadlines {
 public:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    int fd = -1;
    Clock::time_point deadline;  // meaningful while armed
    bool armed = false;
  };

  // PRECONDITION: limit > 0.
  explicit HeaderDeadlines(Clock::duration limit);
  ~HeaderDeadlines();  // stops and joins the thread; every entry must be removed
  HeaderDeadlines(const HeaderDeadlines&) = delete;
  HeaderDeadlines& operator=(const HeaderDeadlines&) = delete;

  // A new connection on `fd`; its first head is due within the limit.
  Entry* add(int fd);
  // The next head on this connection is due within the limit from now.
  void arm(Entry* e);
  // The head arrived; no deadline until arm().
  void disarm(Entry* e);
  // The connection is closing; `e` is deleted. Must come before close(fd).
  void remove(Entry* e);

  // fork() support (fork_participants.h): hold the lock across fork(), and
  // in the child close every connection's fd copy before releasing it.
  void lock_for_fork() ABSL_EXCLUSIVE_LOCK_FUNCTION(mu_) { mu_.lock(); }
  void unlock_after_fork() ABSL_UNLOCK_FUNCTION(mu_) { mu_.unlock(); }
  void close_fds_in_child_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

 private:
  void run();

  const Clock::duration limit_;
  // Also guards every Entry's deadline and armed (fields of another object,
  // which the annotations cannot name).
  common::Mutex mu_;
  std::condition_variable changed_;                      // signalled on arm, add and stop
  std::unordered_set<Entry*> entries_ ABSL_GUARDED_BY(mu_);  // owned
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;                  // runs run(); joined by the destructor
};

}  // namespace syncscope::http::internal
