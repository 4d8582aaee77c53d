#include "prof/stored_gzip.h"

#include <algorithm>
#include <array>
#include <cstring>

namespace syncscope::prof::internal {
namespace {

// One table entry per byte value: the CRC of that byte alone (the
// byte-at-a-time method). Built by the compiler; 1 KiB of read-only data.
constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int k = 0; k < 8; ++k) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}
constexpr std::array<std::uint32_t, 256> kCrcTable = make_crc_table();

constexpr std::size_t kMaxStoredBlock = 65535;  // LEN is 16 bits (RFC 1951, 3.2.4)
constexpr std::size_t kHeaderBytes = 10;        // ID1 ID2 CM FLG MTIME(4) XFL OS
constexpr std::size_t kTrailerBytes = 8;        // CRC32, ISIZE
constexpr std::size_t kBlockHeaderBytes = 5;    // BFINAL/BTYPE byte, LEN, NLEN

void put_le32(char* at, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

std::size_t block_count(std::size_t raw_size) {
  return raw_size == 0 ? 1 : (raw_size + kMaxStoredBlock - 1) / kMaxStoredBlock;
}

}  // namespace

std::uint32_t gzip_crc32(std::string_view bytes, std::uint32_t crc) noexcept {
  crc = ~crc;
  for (const char ch : bytes) crc = kCrcTable[(crc ^ static_cast<unsigned char>(ch)) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::size_t stored_gzip_size(std::size_t raw_size) noexcept {
  return kHeaderBytes + block_count(raw_size) * kBlockHeaderBytes + raw_size + kTrailerBytes;
}

bool stored_gzip(std::string_view raw, std::string* out) {
  if (raw.size() > 0xFFFFFFFFu) return false;
  out->assign(stored_gzip_size(raw.size()), '\0');
  char* at = out->data();
  // Magic, CM = 8 (deflate), FLG = 0, MTIME = 0 (none), XFL = 0, OS = 3 (Unix).
  const unsigned char header[kHeaderBytes] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
  std::memcpy(at, header, sizeof header);
  at += sizeof header;
  const std::size_t blocks = block_count(raw.size());
  std::size_t from = 0;
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::size_t len = std::min(kMaxStoredBlock, raw.size() - from);
    // BFINAL on the last block, BTYPE 00 (stored); the rest of the byte is
    // the padding to the byte boundary that stored data starts on.
    at[0] = static_cast<char>(b + 1 == blocks ? 1 : 0);
    at[1] = static_cast<char>(len & 0xff);
    at[2] = static_cast<char>(len >> 8);
    at[3] = static_cast<char>(~len & 0xff);
    at[4] = static_cast<char>((~len >> 8) & 0xff);
    at += kBlockHeaderBytes;
    if (len > 0) std::memcpy(at, raw.data() + from, len);
    at += len;
    from += len;
  }
  put_le32(at, gzip_crc32(raw));
  put_le32(at + 4, static_cast<std::uint32_t>(raw.size()));
  return true;
}

}  // namespace syncscope::prof::internal
