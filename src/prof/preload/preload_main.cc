// libsyncscope_preload.so: the heap profiler for unmodified programs.
//
//   LD_PRELOAD=build/lib/libsyncscope_preload.so SYNCSCOPE_PROFILE_OUT=heap.%p.pb.gz prog
//
// The interposers come from syncscope::prof (linked in whole via its -u link
// options). This file only configures the profiler from the environment and
// decides when to dump: at exit (destructor of this object, after the
// program's static destructors), every SYNCSCOPE_PROFILE_INTERVAL_S seconds,
// and on SIGUSR2. Signals and timers only wake a dumper thread through a pipe;
// the profile is never written from a signal handler. A fork child that
// never exec'd and recorded no sample since the fork writes nothing at exit.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>

#include "prof/preload/preload_config.h"
#include "prof/thread_state.h"
#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/preload_hooks.h"

namespace syncscope::prof::internal {
namespace {

// Leaked on purpose (valid until the very end of the process): set once by
// preload_init before any other thread of ours exists.
PreloadConfig* g_config = nullptr;
pid_t g_owner_pid = 0;          // the process that loaded us (not a fork child)
int g_wake_pipe[2] = {-1, -1};  // [1] written by signal handler / requests
constinit std::mutex g_dump_mu;  // serializes dumps (dumper thread vs exit)
// Samples recorded in the process up to the last fork() (written in the
// child, single-threaded then). A fork child that recorded none since, and
// never exec'd (an exec runs preload_init anew), skips the exit dump: `$(cmd)`
// subshells and fork-then-exec children would otherwise each symbolize and
// write a profile of the parent's heap (issue 14: 100 subshells took 7.7 s).
std::uint64_t g_samples_at_fork = 0;
bool g_path_announced = false;  // guarded by g_dump_mu; reset in a fork child

void after_fork_in_child() {
  g_samples_at_fork = HeapProfiler::counters().samples;
  g_path_announced = false;
}

// A fork child that "allocated little": no sample since the fork, i.e. on
// average less than one sampling period (SYNCSCOPE_PROFILE_RATE bytes).
bool quiet_fork_child() {
  return getpid() != g_owner_pid && HeapProfiler::counters().samples == g_samples_at_fork;
}

void dump_or_throw(const char* why) {
  if (g_config == nullptr) return;
  const bool per_pid = g_config->out.find("%p") != std::string::npos;
  // A fork child writing to the parent's fixed path would clobber its profile.
  if (!per_pid && getpid() != g_owner_pid) return;
  HookGuard guard;
  std::lock_guard<std::mutex> lock(g_dump_mu);
  std::string error;
  const std::string path = expand_output_path(g_config->out, getpid());
  if (!HeapProfiler::write_heap_profile(path, &error)) {
    std::fprintf(stderr, "syncscope: heap profile (%s) not written: %s\n", why, error.c_str());
  } else if (g_config->out_is_default && !g_path_announced) {
    g_path_announced = true;
    std::fprintf(stderr, "syncscope: heap profile written to %s (SYNCSCOPE_PROFILE_OUT sets the path)\n",
                 path.c_str());
  }
}

void dump(const char* why) noexcept {
  try {
    dump_or_throw(why);
  } catch (const std::exception& e) {  // out of memory: the host program goes on
    std::fprintf(stderr, "syncscope: heap profile (%s) not written: %s\n", why, e.what());
  }
}

void on_dump_signal(int) {
  const int saved = errno;
  if (g_wake_pipe[1] >= 0) {
    const char c = 's';
    // Async-signal-safe; a full pipe already holds a pending wake-up.
    [[maybe_unused]] ssize_t n = write(g_wake_pipe[1], &c, 1);
  }
  errno = saved;
}

void* dumper_main(void*) {
  const int timeout_ms =
      g_config->interval_s > 0 ? static_cast<int>(g_config->interval_s * 1000) : -1;
  for (;;) {
    pollfd pfd{g_wake_pipe[0], POLLIN, 0};
    const int r = poll(&pfd, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return nullptr;
    if (r > 0) {
      char buf[64];
      [[maybe_unused]] ssize_t n = read(g_wake_pipe[0], buf, sizeof buf);
    }
    dump(r > 0 ? "signal" : "interval");
  }
}

void start_dumper() {
  if (pipe2(g_wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return;
  // The dumper takes no signals: the program's handlers must run on its threads.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t thread;
  if (pthread_create(&thread, nullptr, dumper_main, nullptr) == 0) {
    pthread_detach(thread);
    struct sigaction sa {};
    sa.sa_handler = on_dump_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR2, &sa, nullptr);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

__attribute__((constructor)) void preload_init() {
  HookGuard guard;
  g_owner_pid = getpid();
  g_config = new PreloadConfig(parse_preload_config([](const char* n) { return getenv(n); }));
  for (const std::string& e : g_config->errors) std::fprintf(stderr, "syncscope: %s\n", e.c_str());
  if (g_config->exact) HeapProfiler::set_exact_mode(true);
  if (g_config->rate > 0) {
    HeapProfiler::set_sample_rate(g_config->rate);
    HeapProfiler::start();
  }
  pthread_atfork(nullptr, nullptr, after_fork_in_child);
  start_dumper();
  if (syncscope_preload_start_extensions != nullptr) syncscope_preload_start_extensions();
}

__attribute__((destructor)) void preload_fini() {
  if (!quiet_fork_child()) dump("exit");
}

}  // namespace
}  // namespace syncscope::prof::internal

extern "C" int syncscope_preload_request_dump(void) {
  using syncscope::prof::internal::g_wake_pipe;
  if (g_wake_pipe[1] < 0) return -1;
  const char c = 'r';
  return write(g_wake_pipe[1], &c, 1) == 1 || errno == EAGAIN ? 0 : -1;
}
