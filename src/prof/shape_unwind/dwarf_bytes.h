// A bounds-checked reader over bytes copied out of .eh_frame or
// .eh_frame_hdr: fixed-size integers, LEB128 and the GNU pointer encodings
// (DW_EH_PE_*). A read past the end yields 0 and clears ok(), so a parser
// can read on and check once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace syncscope::prof::internal {

class DwarfBytes {
 public:
  DwarfBytes() = default;
  // `vaddr`: the link-time address of bytes[0], for pc-relative pointers.
  DwarfBytes(const std::uint8_t* bytes, std::size_t size, std::uint64_t vaddr) noexcept
      : at_(bytes), end_(bytes + size), vaddr_(vaddr) {}

  bool ok() const noexcept { return ok_; }
  bool empty() const noexcept { return at_ == end_; }
  std::size_t size() const noexcept { return static_cast<std::size_t>(end_ - at_); }
  std::uint64_t vaddr() const noexcept { return vaddr_; }  // of the next byte

  std::uint8_t u8() noexcept { return fixed<std::uint8_t>(); }
  std::uint16_t u16() noexcept { return fixed<std::uint16_t>(); }
  std::uint32_t u32() noexcept { return fixed<std::uint32_t>(); }
  std::uint64_t u64() noexcept { return fixed<std::uint64_t>(); }

  std::uint64_t uleb() noexcept {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const std::uint8_t byte = u8();
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    ok_ = false;  // longer than 64 bits
    return 0;
  }

  std::int64_t sleb() noexcept {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      const std::uint8_t byte = u8();
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        if (shift + 7 < 64 && (byte & 0x40) != 0) value |= ~std::uint64_t{0} << (shift + 7);
        return static_cast<std::int64_t>(value);
      }
    }
    ok_ = false;
    return 0;
  }

  // A NUL-terminated string in place, or nullptr when it runs off the end.
  const char* c_string() noexcept {
    const void* nul = std::memchr(at_, 0, static_cast<std::size_t>(end_ - at_));
    if (nul == nullptr) {
      ok_ = false;
      return nullptr;
    }
    const char* s = reinterpret_cast<const char*>(at_);
    skip(static_cast<const std::uint8_t*>(nul) + 1 - at_);
    return s;
  }

  // The next `n` bytes as their own reader; this one moves past them.
  DwarfBytes take(std::uint64_t n) noexcept {
    if (n > static_cast<std::uint64_t>(end_ - at_)) {
      ok_ = false;
      at_ = end_;
      return DwarfBytes();
    }
    DwarfBytes part(at_, static_cast<std::size_t>(n), vaddr_);
    skip(static_cast<std::ptrdiff_t>(n));
    return part;
  }

  // A pointer in DW_EH_PE encoding `encoding`: absolute, pc-relative (to
  // this field's address) or data-relative (to `data_base`). Indirect,
  // text- and function-relative and aligned forms clear ok().
  std::uint64_t encoded(std::uint8_t encoding, std::uint64_t data_base) noexcept {
    if (encoding == 0xff) return 0;  // DW_EH_PE_omit
    const std::uint64_t field = vaddr_;
    std::uint64_t value = 0;
    switch (encoding & 0x0f) {
      case 0x00: value = u64(); break;                                  // absptr (64-bit)
      case 0x01: value = uleb(); break;                                 // uleb128
      case 0x02: value = u16(); break;                                  // udata2
      case 0x03: value = u32(); break;                                  // udata4
      case 0x04: value = u64(); break;                                  // udata8
      case 0x09: value = static_cast<std::uint64_t>(sleb()); break;     // sleb128
      case 0x0a: value = static_cast<std::uint64_t>(static_cast<std::int16_t>(u16())); break;
      case 0x0b: value = static_cast<std::uint64_t>(static_cast<std::int32_t>(u32())); break;
      case 0x0c: value = u64(); break;                                  // sdata8
      default: ok_ = false; return 0;
    }
    switch (encoding & 0x70) {
      case 0x00: return value;
      case 0x10: return value + field;      // pcrel
      case 0x30: return value + data_base;  // datarel
      default: ok_ = false; return 0;
    }
  }

 private:
  template <class T>
  T fixed() noexcept {
    if (static_cast<std::size_t>(end_ - at_) < sizeof(T)) {
      ok_ = false;
      at_ = end_;
      return 0;
    }
    T value;
    std::memcpy(&value, at_, sizeof(T));
    skip(sizeof(T));
    return value;
  }

  void skip(std::ptrdiff_t n) noexcept {
    at_ += n;
    vaddr_ += static_cast<std::uint64_t>(n);
  }

  const std::uint8_t* at_ = nullptr;   // next unread byte
  const std::uint8_t* end_ = nullptr;  // one past the last
  std::uint64_t vaddr_ = 0;            // link-time address of *at_
  bool ok_ = true;                     // false once any read failed
};

}  // namespace syncscope::prof::internal
