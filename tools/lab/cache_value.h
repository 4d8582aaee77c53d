// The cached value of the lab's services: a small header and a large payload
// buffer, shared as std::shared_ptr<const CacheValue> (DESIGN §2: that is how
// heavy map values usually look in C++, and how the article's leak looks).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace syncscope::lab {

struct CacheValue {
  std::uint64_t key = 0;
  std::uint64_t version = 0;
  std::uint64_t digest = 0;                 // checksum of the payload
  std::size_t payload_size = 0;
  std::unique_ptr<std::byte[]> payload;     // [payload_size]
};

// Allocates a value with a payload of `payload_bytes` filled from `version`.
// Not inlined, so allocation sites read "make_cache_value" and
// "allocate_cache_payload" in profiles and retention paths.
std::shared_ptr<const CacheValue> make_cache_value(std::uint64_t key, std::uint64_t version,
                                                   std::size_t payload_bytes);

}  // namespace syncscope::lab
