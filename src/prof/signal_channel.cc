// Borrowed real-time signals (see signal_channel.h).
#include "prof/signal_channel.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace syncscope::prof::internal {

// Which channel owns each signal's handler. release: [C1] publishes the
// channel's signal_/previous_ before the handler is installed; pairs with
// the acquire load in the trampoline.
static std::atomic<SignalChannel*> g_channel_for[_NSIG];

void signal_channel_trampoline(int signal, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  // acquire: pairs with [C1].
  SignalChannel* ch = signal > 0 && signal < _NSIG ? g_channel_for[signal].load(std::memory_order_acquire)
                                                   : nullptr;
  if (ch != nullptr) {
    if (ch->is_ours(info)) {
      ch->receiver_(info, context);
    } else {
      ch->forward(signal, info, context);
    }
  }
  errno = saved_errno;
}

namespace {

std::size_t append(char* to, std::size_t at, const char* s) noexcept {
  while (*s != '\0') to[at++] = *s++;
  return at;
}

std::size_t append_number(char* to, std::size_t at, unsigned long v) noexcept {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) to[at++] = digits[--n];
  return at;
}

// The hex mask after "Name:\t" on the line starting with `name`.
bool mask_bit(const char* text, std::size_t len, const char* name, int signal, bool* bit) noexcept {
  const std::size_t name_len = std::strlen(name);
  for (std::size_t line = 0; line < len;) {
    std::size_t end = line;
    while (end < len && text[end] != '\n') ++end;
    if (end - line > name_len && std::memcmp(text + line, name, name_len) == 0) {
      unsigned long long mask = 0;
      for (std::size_t i = line + name_len; i < end; ++i) {
        const char c = text[i];
        const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d >= 0) mask = mask << 4 | static_cast<unsigned>(d);
      }
      *bit = ((mask >> (signal - 1)) & 1ULL) != 0;
      return true;
    }
    line = end + 1;
  }
  return false;
}

bool is_default(const struct sigaction& sa) noexcept {
  return (sa.sa_flags & SA_SIGINFO) == 0 && sa.sa_handler == SIG_DFL;
}

struct PendingScan {
  int signal;
  bool pending;
};

}  // namespace

ThreadSignalState read_thread_signal_state(pid_t tid, int signal) noexcept {
  ThreadSignalState st;
  char path[64];
  std::size_t at = append(path, 0, "/proc/self/task/");
  at = append_number(path, at, static_cast<unsigned long>(tid));
  at = append(path, at, "/status");
  path[at] = '\0';
  const int saved_errno = errno;
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    errno = saved_errno;
    return st;
  }
  char text[8192];
  std::size_t len = 0;
  while (len < sizeof text) {
    const ssize_t n = ::read(fd, text + len, sizeof text - len);
    if (n <= 0) break;
    len += static_cast<std::size_t>(n);
  }
  ::close(fd);
  errno = saved_errno;
  st.known = mask_bit(text, len, "SigBlk:", signal, &st.blocked) &&
             mask_bit(text, len, "SigPnd:", signal, &st.pending);
  return st;
}

bool for_each_thread(void (*f)(pid_t tid, void* arg), void* arg) noexcept {
  const int saved_errno = errno;
  const int fd = ::open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    errno = saved_errno;
    return false;
  }
  alignas(8) char buf[4096];
  while (true) {
    const long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      // struct linux_dirent64: d_ino(8) d_off(8) d_reclen(2) d_type(1) d_name[]
      unsigned short reclen;
      std::memcpy(&reclen, buf + off + 16, sizeof reclen);
      const char* name = buf + off + 19;
      pid_t tid = 0;
      bool digits = *name != '\0';
      for (const char* c = name; *c; ++c) {
        if (*c < '0' || *c > '9') digits = false;
        else tid = tid * 10 + (*c - '0');
      }
      if (digits) f(tid, arg);
      off += reclen;
    }
  }
  ::close(fd);
  errno = saved_errno;
  return true;
}

int SignalChannel::open(int requested, int preferred) noexcept {
  if (installed_) {
    // Still installed from an earlier operation (a signal may be pending):
    // keep using it unless another one is asked for and ours can go.
    if (requested == 0 || requested == signal_) return signal_;
    if (!close()) return 0;
  }
  // One channel per signal, even when two channels open at once (a dump and
  // a stop from different threads): a signal is taken by a CAS on its entry.
  auto claim = [this](int s) {
    SignalChannel* none = nullptr;
    // acq_rel: orders against the other channel's claim/release of s.
    return g_channel_for[s].compare_exchange_strong(none, this, std::memory_order_acq_rel);
  };
  int chosen = 0;
  if (requested != 0) {
    if (requested <= 0 || requested >= _NSIG || !claim(requested)) return 0;
    chosen = requested;
  } else {
    sigset_t blocked;
    pthread_sigmask(SIG_BLOCK, nullptr, &blocked);
    auto unused = [&](int s) {
      struct sigaction cur;
      return s >= SIGRTMIN && s <= SIGRTMAX && ::sigaction(s, nullptr, &cur) == 0 && is_default(cur) &&
             sigismember(&blocked, s) == 0;
    };
    if (unused(preferred) && claim(preferred)) chosen = preferred;
    for (int s = SIGRTMAX; chosen == 0 && s >= SIGRTMIN; --s)
      if (unused(s) && claim(s)) chosen = s;
    // Every real-time signal is in use: share the preferred one.
    if (chosen == 0 && preferred > 0 && preferred < _NSIG && claim(preferred)) chosen = preferred;
    if (chosen == 0) return 0;
  }
  if (::sigaction(chosen, nullptr, &previous_) != 0) {
    g_channel_for[chosen].store(nullptr, std::memory_order_relaxed);  // relaxed: never installed
    return 0;
  }
  signal_ = chosen;
  shared_ = !is_default(previous_) && !((previous_.sa_flags & SA_SIGINFO) == 0 && previous_.sa_handler == SIG_IGN);
  // release: [C1] republished after signal_/previous_ were written, before
  // the handler is installed.
  g_channel_for[chosen].store(this, std::memory_order_release);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = signal_channel_trampoline;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  if (block_all_) sigfillset(&sa.sa_mask);
  else sigemptyset(&sa.sa_mask);
  if (::sigaction(chosen, &sa, nullptr) != 0) {
    g_channel_for[chosen].store(nullptr, std::memory_order_relaxed);  // relaxed: never installed
    return 0;
  }
  installed_ = true;
  unanswered_ = false;
  return chosen;
}

int SignalChannel::send(pid_t tid) noexcept {
  siginfo_t info;
  std::memset(&info, 0, sizeof info);
  info.si_signo = signal_;
  info.si_code = SI_QUEUE;
  info.si_pid = ::getpid();
  info.si_uid = ::getuid();
  info.si_value.sival_ptr = this;
  const int saved_errno = errno;
  const long rc = ::syscall(SYS_rt_tgsigqueueinfo, ::getpid(), tid, signal_, &info);
  const int err = rc == 0 ? 0 : errno;
  errno = saved_errno;
  return err;
}

bool SignalChannel::is_ours(const siginfo_t* info) const noexcept {
  return info != nullptr && info->si_code == SI_QUEUE && info->si_pid == ::getpid() &&
         info->si_value.sival_ptr == this;
}

void SignalChannel::forward(int signal, siginfo_t* info, void* context) const noexcept {
  if (previous_.sa_flags & SA_SIGINFO) {
    if (previous_.sa_sigaction != nullptr) previous_.sa_sigaction(signal, info, context);
    return;
  }
  if (previous_.sa_handler == SIG_IGN) return;
  if (previous_.sa_handler == SIG_DFL) {
    // What the program would have got without us: the default action (for a
    // real-time signal, termination). Re-raised with the default disposition;
    // delivered once this handler returns.
    struct sigaction dfl;
    std::memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    ::sigaction(signal, &dfl, nullptr);
    ::syscall(SYS_tgkill, ::getpid(), ::syscall(SYS_gettid), signal);
    return;
  }
  previous_.sa_handler(signal);
}

bool SignalChannel::any_thread_pending() const noexcept {
  PendingScan scan{signal_, false};
  for_each_thread(
      [](pid_t tid, void* arg) {
        auto* s = static_cast<PendingScan*>(arg);
        if (!s->pending) s->pending = read_thread_signal_state(tid, s->signal).pending;
      },
      &scan);
  return scan.pending;
}

bool SignalChannel::close() noexcept {
  if (!installed_) return true;
  if (unanswered_ && any_thread_pending()) return false;  // retried at the next close
  struct sigaction cur;
  if (::sigaction(signal_, nullptr, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) != 0 &&
      cur.sa_sigaction == signal_channel_trampoline) {
    ::sigaction(signal_, &previous_, nullptr);
  }  // else the program installed its own handler meanwhile: leave it
  // release: the signal is free for another channel's claim (acq_rel CAS)
  // only after our disposition was put back. A handler still running that
  // loads null does nothing.
  g_channel_for[signal_].store(nullptr, std::memory_order_release);
  installed_ = false;
  unanswered_ = false;
  return true;
}

}  // namespace syncscope::prof::internal
