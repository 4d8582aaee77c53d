// The copy-on-write scan's process plumbing (see scan_child.h).
#include "retain/scan_child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

namespace syncscope::retain::internal {

pid_t fork_without_handlers() noexcept {
  // clone(SIGCHLD) is fork() without glibc's wrapper: no atfork handlers,
  // no lock taken in the parent on the child's behalf.
  const long r = ::syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  return static_cast<pid_t>(r);
}

std::uint64_t private_memory_bytes() noexcept {
  const int fd = ::open("/proc/self/smaps_rollup", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[4096];
  std::size_t len = 0;
  for (ssize_t n; len < sizeof text - 1 && (n = ::read(fd, text + len, sizeof text - 1 - len)) > 0;)
    len += static_cast<std::size_t>(n);
  ::close(fd);
  text[len] = '\0';
  std::uint64_t total_kb = 0;
  for (const char* key : {"Private_Clean:", "Private_Dirty:"}) {
    const char* at = std::strstr(text, key);
    if (at == nullptr) continue;
    at += std::strlen(key);
    while (*at == ' ') ++at;
    std::uint64_t kb = 0;
    for (; *at >= '0' && *at <= '9'; ++at) kb = kb * 10 + static_cast<std::uint64_t>(*at - '0');
    total_kb += kb;
  }
  return total_kb * 1024;
}

void exit_child(int code) noexcept {
  ::syscall(SYS_exit_group, code);
  __builtin_unreachable();
}

ResultChannel::~ResultChannel() {
  if (fd_ >= 0) ::close(fd_);
}

bool ResultChannel::open() noexcept {
  fd_ = static_cast<int>(::syscall(SYS_memfd_create, "syncscope-scan", MFD_CLOEXEC));
  return fd_ >= 0;
}

void ResultWriter::write_bytes(const void* p, std::size_t n) noexcept {
  const auto* b = static_cast<const unsigned char*>(p);
  while (ok_ && n > 0) {
    const ssize_t w = ::write(fd_, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      ok_ = false;
      return;
    }
    b += w;
    n -= static_cast<std::size_t>(w);
  }
}

ResultReader::~ResultReader() {
  if (data_ != nullptr) ::munmap(const_cast<unsigned char*>(data_), size_);
}

bool ResultReader::open(int fd) noexcept {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size <= 0) return false;
  size_ = static_cast<std::size_t>(st.st_size);
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) {
    size_ = 0;
    return false;
  }
  data_ = static_cast<const unsigned char*>(p);
  return true;
}

bool ResultReader::read_bytes(void* p, std::size_t n) noexcept {
  if (n > size_ - pos_) return false;
  std::memcpy(p, data_ + pos_, n);
  pos_ += n;
  return true;
}

std::string wait_for_child(pid_t child, std::chrono::milliseconds timeout) noexcept {
  const auto until = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t got = ::waitpid(child, &status, WNOHANG);
    if (got == child) break;
    // ECHILD: the program reaped it (SIGCHLD ignored, or its own handler
    // waits for any child): the result's end marker tells whether it finished.
    if (got < 0 && errno == ECHILD) return "";
    if (got < 0 && errno != EINTR) return "lost the scan process (waitpid failed)";
    if (std::chrono::steady_clock::now() >= until) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      return "the scan process did not finish within " + std::to_string(timeout.count()) + " ms (killed)";
    }
    const timespec tick{0, 1'000'000};  // 1 ms: a poll interval, not a measurement
    ::nanosleep(&tick, nullptr);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  if (WIFSIGNALED(status)) return "the scan process died from signal " + std::to_string(WTERMSIG(status));
  return "the scan process exited with status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace syncscope::retain::internal
