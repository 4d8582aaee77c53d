// Copying a few bytes whose count is known only at run time (task and trace
// names): names are mostly short, and a call to memcpy, or its inline loop,
// costs more than two overlapping loads and stores.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace syncscope::task::internal {

// Copies n bytes from src to dst (not overlapping); for 4-16 bytes as two
// overlapping words, each range read and written exactly, never beyond n.
// src may be null when n is 0.
[[gnu::always_inline]] inline void copy_short(char* dst, const char* src, std::size_t n) noexcept {
  if (n >= 8 && n <= 16) {
    std::uint64_t head, tail;
    std::memcpy(&head, src, 8);
    std::memcpy(&tail, src + n - 8, 8);
    std::memcpy(dst, &head, 8);
    std::memcpy(dst + n - 8, &tail, 8);
  } else if (n >= 4 && n < 8) {
    std::uint32_t head, tail;
    std::memcpy(&head, src, 4);
    std::memcpy(&tail, src + n - 4, 4);
    std::memcpy(dst, &head, 4);
    std::memcpy(dst + n - 4, &tail, 4);
  } else if (n != 0) {
    std::memcpy(dst, src, n);
  }
}

}  // namespace syncscope::task::internal
