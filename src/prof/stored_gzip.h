// A gzip member (RFC 1952) whose deflate stream (RFC 1951) holds only stored
// blocks: the bytes as they are, framed so that every gzip reader takes
// them. What the exit dump writes for a small profile, without loading
// zlib: a short process's profile is a few kilobytes, not worth
// compressing, and dlopen'ing libz.so.1 at exit cost more than the rest of
// the dump's framing (`ls /usr/bin`: about 70,000 instructions and 14
// system calls for the load and deflate's set-up; callgrind, strace).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace syncscope::prof::internal {

// CRC-32 as gzip's trailer holds it (ISO 3309 / ITU-T V.42: reflected
// polynomial 0xEDB88320, initial and final XOR 0xFFFFFFFF), continued from
// `crc` (0 to start).
std::uint32_t gzip_crc32(std::string_view bytes, std::uint32_t crc = 0) noexcept;

// The stored gzip member's size for `raw_size` input bytes: an 18-byte
// header and trailer, and 5 bytes per stored block of up to 65,535 bytes
// (one empty block for empty input).
std::size_t stored_gzip_size(std::size_t raw_size) noexcept;

// `raw` as one gzip member of stored blocks, into `*out` (replacing it).
// Inputs of 4 GiB and more are refused (false): gzip's ISIZE is the size
// modulo 2^32, and the dump never writes such a profile uncompressed.
bool stored_gzip(std::string_view raw, std::string* out);

}  // namespace syncscope::prof::internal
