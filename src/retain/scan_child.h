// The copy-on-write scan: while the world is stopped, fork() a child that
// owns a frozen copy of the whole address space, resume the program at
// once, and let the child walk the heap and scan it; the child writes its
// results into a memfd the parent reads afterwards. The program's pause is
// the stop plus the fork (page-table copy), not the walk and the scan.
//
// The child is made with a raw clone(SIGCHLD) system call, not fork(): no
// atfork handler runs (they take locks that a stopped thread may hold, e.g.
// glibc's arena locks, the profiler's tables, stdio), and the child calls
// nothing that needs another thread, a lock or malloc: mmap'ed buffers,
// write(2) and exit_group(2) only.
//
// Every wait is bounded: a child that does not finish within the deadline is
// killed (by its pid) and reported.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>

#include "retain/mmap_buffer.h"

namespace syncscope::retain::internal {

// 0 in the child, the child's pid in the parent, -1 when the kernel refused.
pid_t fork_without_handlers() noexcept;
// This process' private memory in bytes (Private_Clean + Private_Dirty of
// /proc/self/smaps_rollup), read without malloc; 0 when unavailable.
std::uint64_t private_memory_bytes() noexcept;
// Ends the child at once (no atexit, no destructors, no stdio flush).
[[noreturn]] void exit_child(int code) noexcept;

// The channel the child writes and the parent reads: an anonymous memfd.
class ResultChannel {
 public:
  ResultChannel() = default;
  ResultChannel(const ResultChannel&) = delete;
  ResultChannel& operator=(const ResultChannel&) = delete;
  ~ResultChannel();
  bool open() noexcept;  // false when memfd_create is refused
  int fd() const noexcept { return fd_; }

 private:
  int fd_ = -1;
};

// Child side: appends values and buffers to the channel. `ok()` turns false
// at the first failed write (the parent then sees a short result).
class ResultWriter {
 public:
  explicit ResultWriter(int fd) noexcept : fd_(fd) {}
  template <class T>
  void put(const T& v) noexcept {
    write_bytes(&v, sizeof v);
  }
  template <class T>
  void put_buffer(const MmapBuffer<T>& b) noexcept {
    const std::size_t n = b.size();
    put(n);
    write_bytes(b.data(), n * sizeof(T));
  }
  bool ok() const noexcept { return ok_; }

 private:
  void write_bytes(const void* p, std::size_t n) noexcept;
  int fd_;
  bool ok_ = true;
};

// Parent side: maps what the child wrote and reads it back in order.
class ResultReader {
 public:
  ~ResultReader();
  bool open(int fd) noexcept;  // maps the channel's bytes
  template <class T>
  bool get(T& v) noexcept {
    return read_bytes(&v, sizeof v);
  }
  template <class T>
  bool get_buffer(MmapBuffer<T>& b) noexcept {
    std::size_t n = 0;
    if (!get(n) || n > (size_ - pos_) / sizeof(T) || !b.reserve(n)) return false;
    std::memcpy(b.data(), data_ + pos_, n * sizeof(T));
    b.resize_uninitialized(n);
    pos_ += n * sizeof(T);
    return true;
  }

 private:
  bool read_bytes(void* p, std::size_t n) noexcept;
  const unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t pos_ = 0;
};

// Waits for the child at most `timeout`; kills it (SIGKILL, by pid) and
// reaps it when it runs longer. Returns "" when it exited with status 0 (or
// was reaped by the program itself: check the result's end marker), else
// what happened.
std::string wait_for_child(pid_t child, std::chrono::milliseconds timeout) noexcept;

}  // namespace syncscope::retain::internal
