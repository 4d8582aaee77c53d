#include "prof/profile_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "prof/oom_recovery.h"
#include "prof/thread_state.h"

namespace syncscope::prof::internal {
namespace {

// relaxed: a unique number only; concurrent writers get distinct files.
std::atomic<std::uint64_t> g_writes{0};

// Writes all of `bytes` to `fd`; 0 or the errno.
int write_all(int fd, std::string_view bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    done += static_cast<std::size_t>(n);
  }
  return 0;
}

}  // namespace

int replace_file(const std::string& path, std::string_view bytes, int mode, const char** failed_step,
                 Durability durability) {
  HookGuard guard;  // our own allocations are not profiled
  const char* step = "create temporary file";
  std::string tmp;
  if (!run_recoverable([&] {
        tmp = path + ".tmp." + std::to_string(getpid()) + "." +
              std::to_string(g_writes.fetch_add(1, std::memory_order_relaxed));
      })) {
    *failed_step = step;
    return ENOMEM;
  }
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd < 0) {
    *failed_step = step;
    return errno;
  }
  int error = write_all(fd, bytes);
  step = "write";
  if (error == 0 && durability == Durability::kFsync && fsync(fd) != 0) error = errno, step = "fsync";
  if (close(fd) != 0 && error == 0) error = errno, step = "close";
  if (error == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) error = errno, step = "rename";
  if (error != 0) {
    unlink(tmp.c_str());
    *failed_step = step;
  }
  return error;
}

bool write_profile_file(const std::string& path, std::string_view bytes, std::string* error) {
  const char* step = "";
  const int failed = replace_file(path, bytes, 0600, &step, Durability::kRenameOnly);
  if (failed != 0 && error != nullptr) {
    *error = "cannot write heap profile to " + path + ": " + step + ": " + std::strerror(failed);
  }
  return failed == 0;
}

}  // namespace syncscope::prof::internal
