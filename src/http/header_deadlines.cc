#include "http/header_deadlines.h"

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

namespace syncscope::http::internal {

HeaderDeadlines::HeaderDeadlines(Clock::duration limit) : limit_(limit) {
  thread_ = std::thread([this] { run(); });
}

HeaderDeadlines::~HeaderDeadlines() {
  {
    common::MutexLock lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
  common::MutexLock lock(mu_);         // for the analysis: the thread is gone
  for (Entry* e : entries_) delete e;  // none in normal use
}

HeaderDeadlines::Entry* HeaderDeadlines::add(int fd) {
  auto* e = new Entry;
  e->fd = fd;
  {
    common::MutexLock lock(mu_);
    entries_.insert(e);
  }
  arm(e);
  return e;
}

void HeaderDeadlines::arm(Entry* e) {
  {
    common::MutexLock lock(mu_);
    e->deadline = Clock::now() + limit_;
    e->armed = true;
  }
  changed_.notify_all();
}

void HeaderDeadlines::disarm(Entry* e) {
  common::MutexLock lock(mu_);
  e->armed = false;
}

void HeaderDeadlines::remove(Entry* e) {
  {
    common::MutexLock lock(mu_);
    entries_.erase(e);
  }
  delete e;
}

void HeaderDeadlines::close_fds_in_child_locked() {
  for (Entry* e : entries_) ::close(e->fd);  // the child's copies; the parent keeps its own
}

void HeaderDeadlines::run() {
  pthread_setname_np(pthread_self(), "syncscope-http");
  common::UniqueLock lock(mu_);
  while (!stopping_) {
    const Clock::time_point now = Clock::now();
    Clock::time_point next = Clock::time_point::max();
    for (Entry* e : entries_) {
      if (!e->armed) continue;
      if (e->deadline <= now) {
        ::shutdown(e->fd, SHUT_RDWR);  // the event loop sees EOF and closes it
        e->armed = false;
      } else if (e->deadline < next) {
        next = e->deadline;
      }
    }
    // At most max_connections entries: a scan per wake-up is cheap. With
    // nothing armed the thread sleeps until add(), arm() or the destructor.
    if (next == Clock::time_point::max()) {
      changed_.wait(lock.std_lock());
    } else {
      changed_.wait_until(lock.std_lock(), next);
    }
  }
}

}  // namespace syncscope::http::internal
