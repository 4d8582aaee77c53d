// The exit dump's stored gzip (stored_gzip.h) against zlib, the reference
// reader: every size around the 65,535-byte block limit inflates back to
// the input, the CRC matches zlib's crc32, and gzip(1) accepts the file.
#include <zlib.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "prof/stored_gzip.h"
#include "support/child_process.h"
#include "support/scratch_dir.h"

namespace syncscope::prof::internal {
namespace {

std::string random_bytes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// zlib's gunzip of `gz` into `*out`; false, with `*why`, when zlib rejects it.
bool gunzip(const std::string& gz, std::string* out, std::string* why) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return *why = "inflateInit2", false;
  out->clear();
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  z.avail_in = static_cast<uInt>(gz.size());
  char buf[16384];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out->append(buf, sizeof buf - z.avail_out);
  }
  const bool whole = rc == Z_STREAM_END && z.avail_in == 0;
  if (!whole) *why = "inflate returned " + std::to_string(rc) + (z.msg ? std::string(": ") + z.msg : "");
  inflateEnd(&z);
  return whole;
}

TEST(StoredGzip, EverySizeAroundTheBlockLimit_InflatesBackThroughZlib) {
  for (const std::size_t n : {0ul, 1ul, 2ul, 1000ul, 65534ul, 65535ul, 65536ul, 65537ul, 131070ul,
                              131071ul, 200000ul}) {
    const std::string raw = random_bytes(n, static_cast<std::uint32_t>(n));
    std::string gz;
    ASSERT_TRUE(stored_gzip(raw, &gz)) << n;
    EXPECT_EQ(gz.size(), stored_gzip_size(n)) << n;
    std::string back, why;
    ASSERT_TRUE(gunzip(gz, &back, &why)) << n << " bytes: " << why;
    EXPECT_EQ(back, raw) << n;
  }
}

TEST(StoredGzip, Crc32_MatchesZlib_AlsoContinued) {
  const std::string data = random_bytes(100'003, 7);
  const auto zlib_crc = [](std::string_view s, uLong crc) {
    return static_cast<std::uint32_t>(crc32(crc, reinterpret_cast<const Bytef*>(s.data()), static_cast<uInt>(s.size())));
  };
  EXPECT_EQ(gzip_crc32(""), zlib_crc("", 0));
  EXPECT_EQ(gzip_crc32("123456789"), 0xCBF43926u) << "the standard check value";
  EXPECT_EQ(gzip_crc32(data), zlib_crc(data, 0));
  const std::string_view first = std::string_view(data).substr(0, 4097);
  const std::string_view rest = std::string_view(data).substr(4097);
  EXPECT_EQ(gzip_crc32(rest, gzip_crc32(first)), zlib_crc(data, 0));
}

TEST(StoredGzip, CorruptedByte_IsCaughtByTheReader) {
  // The trailer means something: one flipped payload byte fails zlib's CRC check.
  const std::string raw = random_bytes(5000, 3);
  std::string gz;
  ASSERT_TRUE(stored_gzip(raw, &gz));
  gz[100] = static_cast<char>(gz[100] ^ 0x40);
  std::string back, why;
  EXPECT_FALSE(gunzip(gz, &back, &why));
  EXPECT_NE(why.find("incorrect data check"), std::string::npos) << why;
}

TEST(StoredGzip, GzipCommandAcceptsTheFile) {
  test_support::ScratchDir dir;
  const std::string path = (dir.path() / "p.gz").string();
  const std::string raw = random_bytes(70000, 11);
  std::string gz;
  ASSERT_TRUE(stored_gzip(raw, &gz));
  { std::ofstream(path, std::ios::binary) << gz; }
  const test_support::CommandResult test = test_support::run_command({"gzip", "-t", path});
  EXPECT_EQ(test.exit_code, 0) << test.out << test.err;
  const test_support::CommandResult list = test_support::run_command({"gzip", "-l", path});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find(" 70000 "), std::string::npos) << "uncompressed size\n" << list.out;
}

}  // namespace
}  // namespace syncscope::prof::internal
