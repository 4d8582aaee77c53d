#include "prof/profile_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>

#include "prof/thread_state.h"

namespace syncscope::prof::internal {

bool write_profile_file(const std::string& path, std::string_view bytes, std::string* error) {
  HookGuard guard;  // our own allocations are not profiled
  auto fail = [&](const std::string& why) {
    if (error != nullptr) *error = "cannot write heap profile to " + path + ": " + why;
    return false;
  };
  // The temporary file is created, never reused; the rename replaces `path`
  // itself, not a file a symlink there points to. Owner-only: profiles name
  // the program's code and addresses.
  std::string tmp;
  try {
    // relaxed: a unique number only; concurrent writers get distinct files.
    static std::atomic<std::uint64_t> g_writes{0};
    tmp = path + ".tmp." + std::to_string(getpid()) + "." +
          std::to_string(g_writes.fetch_add(1, std::memory_order_relaxed));
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return fail(std::strerror(errno));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  int saved = done == bytes.size() ? 0 : (errno != 0 ? errno : EIO);
  if (close(fd) != 0 && saved == 0) saved = errno;
  if (saved == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) saved = errno;
  if (saved != 0) {
    unlink(tmp.c_str());
    return fail(std::strerror(saved));
  }
  return true;
}

}  // namespace syncscope::prof::internal
