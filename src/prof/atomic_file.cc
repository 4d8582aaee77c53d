#include "syncscope/prof/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace syncscope::prof {
namespace {

absl::Status failure(int error, const std::string& path, const char* step) {
  return absl::ErrnoToStatus(error, absl::StrCat("cannot write ", path, ": ", step));
}

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

absl::Status write_file_atomically(const std::string& path, std::string_view bytes, int mode) {
  // relaxed: a unique number only; concurrent writers get distinct files.
  static std::atomic<std::uint64_t> g_writes{0};
  const std::string tmp =
      absl::StrCat(path, ".tmp.", getpid(), ".", g_writes.fetch_add(1, std::memory_order_relaxed));
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, static_cast<mode_t>(mode));
  if (fd < 0) return failure(errno, path, "create temporary file");
  int error = write_all(fd, bytes);
  const char* step = "write";
  if (error == 0 && fsync(fd) != 0) error = errno, step = "fsync";
  if (close(fd) != 0 && error == 0) error = errno, step = "close";
  if (error == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) error = errno, step = "rename";
  if (error != 0) {
    unlink(tmp.c_str());
    return failure(error, path, step);
  }
  return absl::OkStatus();
}

}  // namespace syncscope::prof
