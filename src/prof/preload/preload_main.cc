// libsyncscope_preload.so: the heap profiler for unmodified programs.
//
//   LD_PRELOAD=build/lib/libsyncscope_preload.so SYNCSCOPE_PROFILE_OUT=heap.%p.pb.gz prog
//
// This object holds the interposers and the profiler's state (the core
// objects of syncscope::prof). It configures the profiler from the
// environment, decides when to dump, and writes the dumps itself as
// addresses with complete mappings (pprof symbolizes them from the
// binaries; issue 16, item 2). The symbolized writer (protobuf, the
// symbolizer) and the debug server live in extension objects next to this
// file (see g_ext_path), dlopen'ed on first need: only SYNCSCOPE_HTTP or
// SYNCSCOPE_PROFILE_SYMBOLIZE=1 loads them (issue 16, item 1).
// Dumps happen at exit (destructor of this object, after the program's
// static destructors), every SYNCSCOPE_PROFILE_INTERVAL_S seconds, and on
// SIGUSR2. Signals and requests only wake a dumper thread through a
// semaphore; the profile is never written from a signal handler. A process that recorded no sample
// (a fork child: none since the fork) writes nothing at exit.
//
// The dumper thread starts only when it is needed (issue 16, item 1): a
// second thread switches glibc's malloc out of its single-threaded mode
// (arena locks, atomic fastbin updates), which cost a single-threaded
// program such as cc1plus 0.5 % more instructions. It starts at load when an
// interval is set; with the program's first thread (this object's
// pthread_create); on syncscope_preload_request_dump(); and for a SIGUSR2 in
// a program that is still single-threaded, at its next sampled allocation
// (the signal handler cannot start a thread): a single-threaded program
// that no longer allocates writes that dump at exit.
#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "prof/heap_recorder.h"
#include "prof/oom_recovery.h"
#include "prof/preload/plain_mutex.h"
#include "prof/preload/preload_config.h"
#include "prof/profile_file.h"
#include "prof/shape_unwind/shape_walk.h"
#include "prof/thread_state.h"
#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/preload_hooks.h"

namespace syncscope::prof::internal {
namespace {

// Leaked on purpose (valid until the very end of the process): set once by
// preload_init before any other thread of ours exists.
PreloadConfig* g_config = nullptr;
pid_t g_owner_pid = 0;          // the process that loaded us (not a fork child)
// Wakes the dumper: posted by SIGUSR2's handler and by dump requests
// (sem_post is async-signal-safe: POSIX.1-2008, 2.4.3), waited for by the
// dumper thread. A process-private semaphore, not a pipe, so this object
// holds no file descriptor of the program's: a pipe's two descriptors could
// be closed or dup2'd over by the program (a shell's `exec 3<file 4>>log`),
// and the handler's wake-up byte then went into the program's file, the
// dumper read the program's input, and the fork handler closed the child's
// files at those numbers. Initialised by prepare_dumps and again in a fork
// child.
sem_t g_wake;
bool g_wake_ready = false;  // g_wake is initialised; set once at load
constinit PlainMutex g_dump_mu;  // serializes dumps (dumper thread vs exit)
// Samples recorded in the process up to the last fork() (written in the
// child, single-threaded then); 0 in the process that loaded us. A process
// that recorded none since (an exec runs preload_init anew) skips the exit
// dump: `$(cmd)` subshells and fork-then-exec children would otherwise each
// symbolize and write a profile of the parent's heap (issue 14: 100 subshells
// took 7.7 s), and a short command (`ls`, a shell's children) would load the
// profile writer only to write an empty profile (issue 16, item 1).
std::uint64_t g_samples_at_fork = 0;
bool g_path_announced = false;  // guarded by g_dump_mu; reset in a fork child
// Set by the exit dump (guarded by g_dump_mu): no dump starts after it. The
// dumper thread lives on until exit_group kills it, and an interval dump
// begun there would leave its temporary file behind, cut off mid-write.
bool g_exit_dump_done = false;

// Whether the dumper thread was started in this process (reset in a fork
// child, which has no dumper). acq_rel exchange: exactly one caller starts it.
std::atomic<bool> g_dumper_started{false};
// A dump was asked for (SIGUSR2 or a request) and the dumper may not be
// running yet: the next sample starts it (start_dumper_if_asked). Written by
// the signal handler: lock-free. relaxed: a flag; the semaphore's count is
// what the dumper acts on.
std::atomic<bool> g_dump_asked{false};
static_assert(std::atomic<bool>::is_always_lock_free);
// glibc's pthread_create, behind this object's interposer; resolved at load
// (dlsym is no call to make inside a hook), or by the interposer for a
// thread started before our constructor ran.
using PthreadCreateFn = int (*)(pthread_t*, const pthread_attr_t*, void* (*)(void*), void*);
PthreadCreateFn g_real_pthread_create = nullptr;
PthreadCreateFn resolve_real_pthread_create() {
  if (g_real_pthread_create == nullptr) {
    g_real_pthread_create = reinterpret_cast<PthreadCreateFn>(dlsym(RTLD_NEXT, "pthread_create"));
  }
  return g_real_pthread_create;
}

// Any function of this object, for dladdr.
void self_anchor() {}

// The heavy half, from this object's directory: libsyncscope_preload_http.so
// (profile writer and debug server) when SYNCSCOPE_HTTP is set, else
// libsyncscope_preload_ext.so (the profile writer alone, a quarter of the
// libraries to map). One of them per process, never both: each carries its
// own copy of the generated profile.proto code, which libprotobuf registers
// once per process. g_ext_path is set once by preload_init; the handle is
// loaded once, under g_ext_mu, and never closed.
std::string* g_ext_path = nullptr;
constinit PlainMutex g_ext_mu;
void* g_ext = nullptr;          // guarded by g_ext_mu
bool g_ext_failed = false;      // guarded by g_ext_mu: reported once

// The path of extension object `file`: this object's own directory, made
// absolute at load time (LD_PRELOAD may name us relative to a directory the
// program leaves).
std::string* extension_path(const char* file) {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&self_anchor), &info) == 0 ||
      info.dli_fname == nullptr) {
    return nullptr;
  }
  char* real = realpath(info.dli_fname, nullptr);
  std::string self = real != nullptr ? real : info.dli_fname;
  std::free(real);
  const std::size_t slash = self.rfind('/');
  return new std::string((slash == std::string::npos ? std::string(".") : self.substr(0, slash)) +
                         "/" + file);
}

// A symbol of the extension, loading it on first use; nullptr (reported
// once on stderr) when it cannot be loaded.
void* extension_symbol(const char* name) {
  HookGuard guard;  // the loader's allocations are ours, not the program's
  std::lock_guard<PlainMutex> lock(g_ext_mu);
  if (g_ext == nullptr && !g_ext_failed && g_ext_path != nullptr) {
    g_ext = dlopen(g_ext_path->c_str(), RTLD_NOW | RTLD_LOCAL);
    if (g_ext == nullptr) {
      g_ext_failed = true;
      const char* why = dlerror();
      std::fprintf(stderr, "syncscope: cannot load %s: %s\n", g_ext_path->c_str(),
                   why != nullptr ? why : "unknown error");
    }
  }
  return g_ext != nullptr ? dlsym(g_ext, name) : nullptr;
}

// Whether before_fork took g_dump_mu for the fork under way. Written and
// read only by the forking thread: glibc runs one fork's handlers at a time.
bool g_dump_mu_held_for_fork = false;

// A fork waits, bounded, for a dump under way to end. The dumper walks the
// loaded modules (dl_iterate_phdr) during a dump, and glibc 2.36 does not
// reset the loader's module-list lock in a fork child: a child forked while
// the dumper held it hung at its first stack capture, which walks the same
// list (PreloadForkDuringDump: 1 hang in 80 forks made mid-dump). The wait
// is polled, at most about 2 s (a large symbolized dump can take longer;
// the fork then goes ahead, as before), and never blocks on anything the
// dumper might need from the forking thread.
void before_fork() {
  g_dump_mu_held_for_fork = false;
  for (int i = 0; i < 2000; ++i) {
    if (g_dump_mu.try_lock()) {
      g_dump_mu_held_for_fork = true;
      return;
    }
    const timespec gap{0, 1000000};  // 1 ms
    nanosleep(&gap, nullptr);
  }
}

void after_fork_in_parent() {
  if (g_dump_mu_held_for_fork) g_dump_mu.unlock();
  g_dump_mu_held_for_fork = false;
}

void after_fork_in_child() {
  // The child has no dumper thread, and the semaphore's count was the
  // parent's: a fresh one, and the dumper starts anew when the child needs
  // one.
  if (g_wake_ready) sem_init(&g_wake, /*pshared=*/0, 0);
  g_dumper_started.store(false, std::memory_order_relaxed);  // relaxed: single-threaded child
  g_dump_asked.store(false, std::memory_order_relaxed);
  g_dump_mu_held_for_fork = false;
  g_samples_at_fork = HeapProfiler::counters().samples;
  g_path_announced = false;
  g_exit_dump_done = false;
  // The child has only the forking thread: a dumper thread of the parent
  // that held g_dump_mu at the fork never unlocks the child's copy, and the
  // child's exit (which takes it) would wait forever. A fresh mutex.
  g_dump_mu.reset_in_child();
}

// A process that "allocated little": no sample since it started or forked,
// i.e. on average less than one sampling period (SYNCSCOPE_PROFILE_RATE bytes).
bool quiet_process() { return HeapProfiler::counters().samples == g_samples_at_fork; }

// Writes the profile to `path`: addresses with complete mappings, written by
// this object (no symbolizer, no libprotobuf), unless SYNCSCOPE_PROFILE_SYMBOLIZE
// asks for names in the file (the extension's writer). Reports failures.
bool write_profile(const std::string& path, const char* why) {
  if (!g_config->symbolize) {
    // Out of memory inside: false with error "out of memory" (the samples
    // stay, the program goes on; oom_recovery.h).
    std::string error;
    const bool ok = internal::write_address_profile_file(path, &error);
    if (!ok) std::fprintf(stderr, "syncscope: heap profile (%s) not written: %s\n", why, error.c_str());
    return ok;
  }
  // Not under a recovery point of ours: the extension is built with
  // exceptions and catches its own out-of-memory failures.
  using WriteFn = int (*)(const char*, int, char*, std::size_t);
  auto write = reinterpret_cast<WriteFn>(extension_symbol("syncscope_preload_ext_write_profile"));
  if (write == nullptr) return false;  // reported by extension_symbol
  char error[512] = "";
  const bool ok = write(path.c_str(), g_config->separate_debuginfo ? 1 : 0, error, sizeof error) == 0;
  if (!ok) std::fprintf(stderr, "syncscope: heap profile (%s) not written: %s\n", why, error);
  return ok;
}

// `is_exit`: the exit dump, after which no other dump starts. Out of memory
// while the dump builds its path: the dump is dropped with a message (the
// recovery point is inside g_dump_mu's scope, so the lock is released on
// every path).
void dump(const char* why, bool is_exit = false) noexcept {
  if (g_config == nullptr) return;
  const bool per_pid = g_config->out.find("%p") != std::string::npos;
  // A fork child writing to the parent's fixed path would clobber its profile.
  if (!per_pid && getpid() != g_owner_pid) return;
  HookGuard guard;
  std::lock_guard<PlainMutex> lock(g_dump_mu);
  if (g_exit_dump_done) return;
  if (is_exit) g_exit_dump_done = true;  // even when this write fails: it is the last
  std::string path;
  if (!run_recoverable([&] { path = expand_output_path(g_config->out, getpid()); })) {
    std::fprintf(stderr, "syncscope: heap profile (%s) not written: out of memory\n", why);
    return;
  }
  if (!write_profile(path, why)) return;
  if (g_config->out_is_default && !g_path_announced) {
    g_path_announced = true;
    std::fprintf(stderr, "syncscope: heap profile written to %s (SYNCSCOPE_PROFILE_OUT sets the path)\n",
                 path.c_str());
  }
}

// Wakes the dumper for one dump; true when the request is posted.
// Async-signal-safe (sem_post and a lock-free store).
bool ask_for_dump() {
  const int saved = errno;
  bool asked = false;
  if (g_wake_ready) {
    // EOVERFLOW: the count is at its maximum, wake-ups already pending.
    asked = sem_post(&g_wake) == 0 || errno == EOVERFLOW;
  }
  g_dump_asked.store(true, std::memory_order_relaxed);  // relaxed: see g_dump_asked
  errno = saved;
  return asked;
}

void on_dump_signal(int) { ask_for_dump(); }

// What ended the dumper's wait.
enum class Wake { kAsked, kInterval, kBroken };

// Waits for a wake-up, or until the interval (when set) has passed since
// the wait began. Wake-ups posted while a dump ran are taken together: one
// dump answers them all.
Wake wait_for_wake_up(std::int64_t interval_s) {
  timespec deadline{};
  if (interval_s > 0) {
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += static_cast<time_t>(interval_s);
  }
  for (;;) {
    const int r = interval_s > 0 ? sem_clockwait(&g_wake, CLOCK_MONOTONIC, &deadline) : sem_wait(&g_wake);
    if (r == 0) {
      while (sem_trywait(&g_wake) == 0) {
      }
      return Wake::kAsked;
    }
    if (errno == ETIMEDOUT) return Wake::kInterval;
    // EINTR: the thread blocks every signal, but a debugger can interrupt it.
    if (errno != EINTR) return Wake::kBroken;
  }
}

void* dumper_main(void*) {
  for (;;) {
    const Wake why = wait_for_wake_up(g_config->interval_s);
    if (why == Wake::kBroken) return nullptr;
    dump(why == Wake::kAsked ? "signal" : "interval");
  }
}

// Starts the dumper thread unless this process has one. Not
// async-signal-safe (pthread_create).
void start_dumper() {
  // acq_rel: one caller starts it; the others see it started.
  if (!g_wake_ready || g_real_pthread_create == nullptr ||
      g_dumper_started.exchange(true, std::memory_order_acq_rel)) {
    return;
  }
  HookGuard guard;  // the thread's stack and TLS are ours, not the program's
  // The dumper takes no signals: the program's handlers must run on its threads.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t thread;
  if (g_real_pthread_create(&thread, nullptr, dumper_main, nullptr) == 0) {
    pthread_detach(thread);
  } else {
    g_dumper_started.store(false, std::memory_order_relaxed);  // relaxed: a later need tries again
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

// The sample listener (set_sample_listener): a dump asked for before the
// dumper existed (SIGUSR2 in a single-threaded program) starts it, from the
// allocating thread, outside a signal handler.
void start_dumper_if_asked() noexcept {
  // relaxed (both): flags; a sample that misses them leaves it to the next.
  if (g_dump_asked.load(std::memory_order_relaxed) && !g_dumper_started.load(std::memory_order_relaxed)) {
    start_dumper();
  }
}

// At load: the pipe and SIGUSR2's handler; the dumper thread itself only
// when an interval asks for one now (see the file comment).
void prepare_dumps() {
  resolve_real_pthread_create();
  if (sem_init(&g_wake, /*pshared=*/0, 0) != 0) return;
  g_wake_ready = true;
  struct sigaction sa {};
  sa.sa_handler = on_dump_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGUSR2, &sa, nullptr);
  set_sample_listener(start_dumper_if_asked);
  if (g_config->interval_s > 0) start_dumper();
}

__attribute__((constructor)) void preload_init() {
  HookGuard guard;
  g_owner_pid = getpid();
  PreloadConfig* config = nullptr;
  if (!run_recoverable([&] {
        config = new PreloadConfig(parse_preload_config(
            [](void*, const char* n) -> const char* { return getenv(n); }, nullptr));
      })) {
    std::fprintf(stderr, "syncscope: out of memory at start; the heap profiler stays off\n");
    return;
  }
  g_config = config;
  for (const std::string& e : g_config->errors) std::fprintf(stderr, "syncscope: %s\n", e.c_str());
  if (!g_config->shape_walk) set_shape_walk_enabled(false);
  if (g_config->exact) HeapProfiler::set_exact_mode(true);
  if (g_config->rate > 0) {
    HeapProfiler::set_sample_rate(g_config->rate);
    HeapProfiler::start();
  }
  pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child);
  const char* http = getenv("SYNCSCOPE_HTTP");
  const bool serve = http != nullptr && *http != '\0';
  // Out of memory here: no extension path, so no symbolized dump and no
  // debug server (extension_symbol reports nothing and returns nullptr).
  run_recoverable([&] {
    g_ext_path = extension_path(serve ? "libsyncscope_preload_http.so" : "libsyncscope_preload_ext.so");
  });
  prepare_dumps();
  // The debug server is the only extension started at load time.
  if (serve) {
    using StartFn = void (*)();
    if (auto start = reinterpret_cast<StartFn>(extension_symbol("syncscope_preload_start_extensions"))) {
      start();
    }
  }
}

__attribute__((destructor)) void preload_fini() {
  if (!quiet_process()) {
    dump("exit", /*is_exit=*/true);
  } else {
    HookGuard guard;
    std::lock_guard<PlainMutex> lock(g_dump_mu);
    g_exit_dump_done = true;  // no exit dump, and no interval dump cut off by the exit either
  }
}

}  // namespace
}  // namespace syncscope::prof::internal

extern "C" int syncscope_preload_request_dump(void) {
  if (!syncscope::prof::internal::ask_for_dump()) return -1;
  syncscope::prof::internal::start_dumper();
  return 0;
}

// The program's threads start through here: the first one also starts the
// dumper thread (see the file comment), once the program is multi-threaded
// anyway.
extern "C" int pthread_create(pthread_t* thread, const pthread_attr_t* attr, void* (*start)(void*),
                              void* arg) {
  const auto real = syncscope::prof::internal::resolve_real_pthread_create();
  if (real == nullptr) return EAGAIN;
  const int rc = real(thread, attr, start, arg);
  if (rc == 0) syncscope::prof::internal::start_dumper();
  return rc;
}
