// Workloads for tests of syncscope's signals against the host program:
// sleeping threads, a thread holding the loader lock, a low pending-signal
// limit, a program signal handler that counts, and the dispositions of all
// real-time signals.
#pragma once

#include <link.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace syncscope::test_support {

using namespace std::chrono_literals;

inline pid_t gettid_now() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

// Threads that count their rounds and either sleep 1 ms per round (mostly
// blocked in nanosleep) or spin (always runnable: a dump must signal them).
class Sleepers {
 public:
  enum Mode { kSleep, kSpin };
  // Returns once every thread runs (a thread still starting blocks every
  // signal, and on a loaded machine may stay so for a while).
  explicit Sleepers(int n, Mode mode = kSleep) {
    for (int i = 0; i < n; ++i) {
      threads_.emplace_back([this, mode] {
        started_.fetch_add(1);
        while (!stop_.load()) {
          rounds_.fetch_add(1);
          if (mode == kSleep) std::this_thread::sleep_for(1ms);
          else std::this_thread::yield();
        }
      });
    }
    while (started_.load() < n) std::this_thread::sleep_for(1ms);
  }
  ~Sleepers() {
    stop_.store(true);
    for (auto& t : threads_) t.join();
  }
  std::uint64_t rounds() const { return rounds_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> started_{0};
  std::atomic<std::uint64_t> rounds_{0};
  std::vector<std::thread> threads_;
};

// A thread parked inside a dl_iterate_phdr callback: it holds the loader's
// lock until released. It stays runnable (yields), so a dump signals it.
class LoaderLockHolder {
 public:
  LoaderLockHolder()
      : thread_([this] {
          dl_iterate_phdr(
              [](dl_phdr_info*, std::size_t, void* arg) {
                auto* state = static_cast<std::atomic<int>*>(arg);
                state->store(1);
                while (state->load() != 2) std::this_thread::yield();
                return 1;
              },
              &state_);
        }) {
    while (state_.load() != 1) std::this_thread::sleep_for(1ms);
  }
  ~LoaderLockHolder() { release(); }
  void release() {
    state_.store(2);
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<int> state_{0};
  std::thread thread_;
};

inline int read_sigq() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("SigQ:", 0) == 0) return std::atoi(line.c_str() + 5);
  return -1;
}

// Lets this process queue only `extra` more signals (per-user count).
inline bool lower_pending_limit(rlim_t extra) {
  const int queued = read_sigq();
  if (queued < 0) return false;
  rlimit lim{};
  if (::getrlimit(RLIMIT_SIGPENDING, &lim) != 0) return false;
  lim.rlim_cur = static_cast<rlim_t>(queued) + extra;
  return ::setrlimit(RLIMIT_SIGPENDING, &lim) == 0;
}

// A thread whose queue of pending `signal`s is filled to the per-user
// limit (lower it first with lower_pending_limit): the signal gets a no-op
// handler, the thread blocks it, and sends to it are queued until the kernel
// refuses one (at most 1000). Later sends of any real-time signal to any
// thread of the process are then refused too, until the thread ends (the
// destructor), taking its queued signals with it.
class FullSignalQueue {
 public:
  explicit FullSignalQueue(int signal) {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    ::sigaction(signal, &sa, nullptr);
    thread_ = std::thread([this, signal] {
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, signal);
      pthread_sigmask(SIG_BLOCK, &set, nullptr);
      tid_.store(gettid_now());
      while (!stop_.load()) std::this_thread::sleep_for(1ms);
    });
    while (tid_.load() == 0) std::this_thread::sleep_for(1ms);
    while (queued_ < 1000 && ::syscall(SYS_tgkill, ::getpid(), tid_.load(), signal) == 0) ++queued_;
  }
  ~FullSignalQueue() {
    stop_.store(true);
    thread_.join();
  }
  FullSignalQueue(const FullSignalQueue&) = delete;
  FullSignalQueue& operator=(const FullSignalQueue&) = delete;

  int queued() const { return queued_; }

 private:
  std::atomic<pid_t> tid_{0};
  std::atomic<bool> stop_{false};
  int queued_ = 0;
  std::thread thread_;
};

// Sends `count` signals to the process one at a time, each awaited (bounded;
// the first one lost ends the sending), while `work` runs on this thread;
// returns how many the handler saw.
inline std::atomic<int> g_program_received{0};
inline void program_handler(int) { g_program_received.fetch_add(1); }

template <class Work>
int signals_received_during(int signal, int count, Work work) {
  g_program_received.store(0);
  std::atomic<bool> done{false};
  std::thread sender([&] {
    for (int i = 0; i < count; ++i) {
      const int before = g_program_received.load();
      ::kill(::getpid(), signal);
      for (int w = 0; w < 2000 && g_program_received.load() == before; ++w) ::usleep(1000);
      if (g_program_received.load() == before) break;  // lost: no point waiting for more
    }
    done.store(true);
  });
  while (!done.load()) work();
  sender.join();
  return g_program_received.load();
}

constexpr int kSaRestorer = 0x04000000;  // set by glibc's sigaction itself

struct Disposition {
  void* handler;
  int flags;
  bool operator==(const Disposition&) const = default;
};

inline std::vector<Disposition> realtime_dispositions() {
  std::vector<Disposition> d;
  for (int s = SIGRTMIN; s <= SIGRTMAX; ++s) {
    struct sigaction sa {};
    ::sigaction(s, nullptr, &sa);
    d.push_back({reinterpret_cast<void*>(sa.sa_handler), sa.sa_flags & ~kSaRestorer});
  }
  return d;
}

// The program's own handler on `signal` (one the runtime also uses) must
// keep receiving every one of its signals while `work` (a stop, a dump) runs
// again and again beside two sleeping threads, and must still be installed
// afterwards. Returns 0 when both hold, 1 when signals were lost (printed
// with `what`, the name of one round), 2 when the handler was replaced.
template <class Work>
int program_handler_keeps_its_signals(int signal, const char* what, Work work) {
  constexpr int kSignals = 300;
  struct sigaction sa {};
  sa.sa_handler = program_handler;
  ::sigaction(signal, &sa, nullptr);
  Sleepers sleepers(2);
  int rounds = 0;
  const int got = signals_received_during(signal, kSignals, [&] {
    work(rounds);
    ++rounds;
  });
  if (got != kSignals) {
    std::fprintf(stderr, "program handler got %d of %d signals over %d %s\n", got, kSignals, rounds, what);
    return 1;
  }
  struct sigaction now {};
  ::sigaction(signal, nullptr, &now);
  return now.sa_handler == program_handler ? 0 : 2;
}

// Three rounds of `work` (a stop, a dump; false: the round failed) beside two
// sleeping threads must leave every real-time signal's disposition as it
// was. Returns 0 when they do, 1 when one changed, 2 when a round failed.
template <class Work>
int dispositions_kept_over_rounds(Work work) {
  Sleepers sleepers(2);
  const std::vector<Disposition> before = realtime_dispositions();
  for (int i = 0; i < 3; ++i) {
    if (!work()) return 2;
  }
  return realtime_dispositions() == before ? 0 : 1;
}

}  // namespace syncscope::test_support
