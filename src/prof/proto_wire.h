// ProtoWire: the protobuf wire format (varints and length-delimited fields),
// enough to write pprof's profile.proto without libprotobuf. The address
// profile (address_profile.cc) is written by the LD_PRELOAD core object at
// process exit, where loading libprotobuf and its dependencies cost more
// than the whole dump (issue 16, items 1 and 2). Encoding only; field numbers
// come from src/prof/profile.proto, the one schema both writers follow.
//
// When not to use: anywhere a profile is read, or where libprotobuf is
// already loaded (ProfileBuilder is the general writer).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace syncscope::prof::internal {

class ProtoWire {
 public:
  // Field `field` as a varint (wire type 0). Zero is written too: callers
  // skip proto3 defaults themselves when they want to.
  void varint_field(std::uint32_t field, std::uint64_t value) {
    varint(std::uint64_t{field} << 3);
    varint(value);
  }
  // Signed int64 fields use two's complement varints (not zigzag).
  void int64_field(std::uint32_t field, std::int64_t value) {
    varint_field(field, static_cast<std::uint64_t>(value));
  }
  // Field `field` as length-delimited bytes (wire type 2): strings, nested
  // messages (another ProtoWire's bytes()).
  void bytes_field(std::uint32_t field, std::string_view bytes) {
    varint(std::uint64_t{field} << 3 | 2);
    varint(bytes.size());
    out_.append(bytes);
  }
  // A packed repeated varint field (how proto3 writes repeated scalars).
  template <typename T>
  void packed_field(std::uint32_t field, std::span<const T> values) {
    if (values.empty()) return;
    ProtoWire body;
    for (T v : values) body.varint(static_cast<std::uint64_t>(v));
    bytes_field(field, body.bytes());
  }

  const std::string& bytes() const { return out_; }
  void clear() { out_.clear(); }

 private:
  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }

  std::string out_;
};

}  // namespace syncscope::prof::internal
