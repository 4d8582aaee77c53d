// DWARF call frame information, as GCC and Clang emit it into .eh_frame
// (the LSB's format: DWARF 2-4 CFI with GNU augmentations), interpreted up
// to one instruction and reduced to a FrameShape.
#include "prof/shape_unwind/frame_shape.h"

#include <algorithm>
#include <cstring>

#include "prof/shape_unwind/dwarf_bytes.h"

namespace syncscope::prof::internal {
namespace {

// DWARF register numbers on x86-64 (System V psABI, figure 3.36).
constexpr std::uint64_t kRbp = 6;
constexpr std::uint64_t kRsp = 7;
constexpr std::uint64_t kReturnAddress = 16;
// The largest CIE or FDE read; GCC's are tens of bytes, huge functions' a
// few hundred. (The walk runs on the stack of whatever thread allocates.)
constexpr std::size_t kMaxEntryBytes = 1024;
// Bytes read at once at an entry's start: most entries fit, so one read.
constexpr std::size_t kFirstRead = 128;
// DW_CFA_remember_state nesting kept; deeper programs are refused.
constexpr int kMaxRememberedStates = 8;

// A register's rule, for the two registers a shape tracks besides the CFA.
struct Rule {
  enum Kind : std::uint8_t { kSame, kUndefined, kAtCfaOffset, kUnsupported } kind = kSame;
  std::int64_t offset = 0;  // for kAtCfaOffset: the value is saved at CFA + offset
};

// The row of the CFA table being built: the CFA rule and the tracked rules.
struct Row {
  std::uint64_t cfa_register = kRsp;
  std::int64_t cfa_offset = 0;
  bool cfa_supported = true;  // false after DW_CFA_def_cfa_expression
  Rule rbp;
  Rule return_address;
};

// What a CIE (common information entry) says that its FDEs need.
struct Cie {
  std::uint64_t code_alignment = 1;
  std::int64_t data_alignment = 1;
  std::uint64_t return_register = kReturnAddress;
  std::uint8_t pointer_encoding = 0;  // the FDE's pc_begin / pc_range (DW_EH_PE_*)
  bool has_augmentation_data = false;  // 'z': the FDE has an augmentation length
  bool signal_frame = false;           // 'S'
  DwarfBytes initial_instructions;
};

// Reads the entry (CIE or FDE) at `vaddr` into `buffer`: its length word
// and the rest, in one read when it fits in kFirstRead bytes. Returns the
// bytes after the length word, or nothing.
std::optional<DwarfBytes> read_entry(const TableSource& source, std::uint64_t vaddr,
                                     std::uint8_t (&buffer)[kMaxEntryBytes]) noexcept {
  std::uint32_t length = 0;
  std::size_t have = 0;  // bytes of the entry after the length word already in buffer
  std::uint8_t first[kFirstRead];
  if (source.read(vaddr, first, kFirstRead)) {
    std::memcpy(&length, first, sizeof length);
    have = kFirstRead - sizeof length;
  } else if (!source.read(vaddr, &length, sizeof length)) {  // near the segment's end
    return std::nullopt;
  }
  // 0: a terminator; 0xffffffff: 64-bit DWARF, which GCC never emits here.
  if (length == 0 || length == 0xffffffffu || length > kMaxEntryBytes) return std::nullopt;
  have = std::min<std::size_t>(have, length);
  std::memcpy(buffer, first + sizeof length, have);
  if (have < length && !source.read(vaddr + 4 + have, buffer + have, length - have)) return std::nullopt;
  return DwarfBytes(buffer, length, vaddr + 4);
}

std::optional<Cie> parse_cie(DwarfBytes bytes) noexcept {
  Cie cie;
  if (bytes.u32() != 0) return std::nullopt;  // a CIE's id in .eh_frame is 0
  const std::uint8_t version = bytes.u8();
  if (version != 1 && version != 3) return std::nullopt;
  const char* augmentation = bytes.c_string();
  if (augmentation == nullptr) return std::nullopt;
  cie.code_alignment = bytes.uleb();
  cie.data_alignment = bytes.sleb();
  cie.return_register = version == 1 ? bytes.u8() : bytes.uleb();
  if (augmentation[0] == 'z') {
    cie.has_augmentation_data = true;
    const std::uint64_t length = bytes.uleb();
    DwarfBytes data = bytes.take(length);
    for (const char* a = augmentation + 1; *a != '\0'; ++a) {
      switch (*a) {
        case 'R': cie.pointer_encoding = data.u8(); break;
        case 'L': data.u8(); break;  // the LSDA's encoding: the FDE's data is skipped whole
        case 'P': {
          const std::uint8_t encoding = data.u8();
          data.encoded(encoding, 0);  // the personality routine
          break;
        }
        case 'S': cie.signal_frame = true; break;
        default: return std::nullopt;  // unknown: its data cannot be skipped safely
      }
    }
    if (!data.ok()) return std::nullopt;
  } else if (augmentation[0] != '\0') {
    return std::nullopt;  // "eh" and other pre-'z' forms
  }
  if (!bytes.ok() || cie.return_register != kReturnAddress) return std::nullopt;
  cie.initial_instructions = bytes;
  return cie;
}

// Sets the rule of `reg` when it is one of the tracked ones.
void set_rule(Row& row, std::uint64_t reg, Rule rule) noexcept {
  if (reg == kRbp) row.rbp = rule;
  if (reg == kReturnAddress) row.return_address = rule;
}

// DW_CFA_restore: `reg` gets its rule from the CIE's initial instructions.
void restore_rule(Row& row, const Row& initial, std::uint64_t reg) noexcept {
  if (reg == kRbp) row.rbp = initial.rbp;
  if (reg == kReturnAddress) row.return_address = initial.return_address;
}

// Runs CFA instructions on `row`, stopping before the first one whose
// location is past `pc`. `location` is the address the row describes so far.
// False when an instruction cannot be interpreted.
bool run(DwarfBytes program, const Cie& cie, const Row& initial, std::uint64_t& location,
         std::uint64_t pc, Row& row) noexcept {
  Row remembered[kMaxRememberedStates];
  int depth = 0;
  const auto advance = [&](std::uint64_t delta) { location += delta * cie.code_alignment; };
  while (!program.empty()) {
    const std::uint8_t op = program.u8();
    const std::uint8_t high = op & 0xc0;
    const std::uint8_t low = op & 0x3f;
    if (high == 0x40) {  // DW_CFA_advance_loc
      advance(low);
    } else if (high == 0x80) {  // DW_CFA_offset
      set_rule(row, low, {Rule::kAtCfaOffset, static_cast<std::int64_t>(program.uleb()) * cie.data_alignment});
    } else if (high == 0xc0) {  // DW_CFA_restore
      restore_rule(row, initial, low);
    } else {
      switch (op) {
        case 0x00: break;                                                      // DW_CFA_nop
        case 0x01: location = program.encoded(cie.pointer_encoding, 0); break;  // DW_CFA_set_loc
        case 0x02: advance(program.u8()); break;                               // DW_CFA_advance_loc1
        case 0x03: advance(program.u16()); break;                              // DW_CFA_advance_loc2
        case 0x04: advance(program.u32()); break;                              // DW_CFA_advance_loc4
        case 0x05: {  // DW_CFA_offset_extended
          const std::uint64_t reg = program.uleb();
          set_rule(row, reg, {Rule::kAtCfaOffset, static_cast<std::int64_t>(program.uleb()) * cie.data_alignment});
          break;
        }
        case 0x06: restore_rule(row, initial, program.uleb()); break;           // DW_CFA_restore_extended
        case 0x07: set_rule(row, program.uleb(), {Rule::kUndefined, 0}); break;  // DW_CFA_undefined
        case 0x08: set_rule(row, program.uleb(), {Rule::kSame, 0}); break;       // DW_CFA_same_value
        case 0x09: {  // DW_CFA_register: the value lives in another register
          const std::uint64_t reg = program.uleb();
          program.uleb();
          set_rule(row, reg, {Rule::kUnsupported, 0});
          break;
        }
        case 0x0a:  // DW_CFA_remember_state
          if (depth == kMaxRememberedStates) return false;
          remembered[depth++] = row;
          break;
        case 0x0b:  // DW_CFA_restore_state
          if (depth == 0) return false;
          row = remembered[--depth];
          break;
        case 0x0c:  // DW_CFA_def_cfa
          row.cfa_register = program.uleb();
          row.cfa_offset = static_cast<std::int64_t>(program.uleb());
          row.cfa_supported = true;
          break;
        case 0x0d: row.cfa_register = program.uleb(); break;                            // def_cfa_register
        case 0x0e: row.cfa_offset = static_cast<std::int64_t>(program.uleb()); break;  // def_cfa_offset
        case 0x0f:  // DW_CFA_def_cfa_expression
          program.take(program.uleb());
          row.cfa_supported = false;
          break;
        case 0x10:    // DW_CFA_expression
        case 0x16: {  // DW_CFA_val_expression
          const std::uint64_t reg = program.uleb();
          program.take(program.uleb());
          set_rule(row, reg, {Rule::kUnsupported, 0});
          break;
        }
        case 0x11: {  // DW_CFA_offset_extended_sf
          const std::uint64_t reg = program.uleb();
          set_rule(row, reg, {Rule::kAtCfaOffset, program.sleb() * cie.data_alignment});
          break;
        }
        case 0x12:  // DW_CFA_def_cfa_sf
          row.cfa_register = program.uleb();
          row.cfa_offset = program.sleb() * cie.data_alignment;
          row.cfa_supported = true;
          break;
        case 0x13: row.cfa_offset = program.sleb() * cie.data_alignment; break;  // def_cfa_offset_sf
        case 0x14:    // DW_CFA_val_offset
        case 0x15: {  // DW_CFA_val_offset_sf
          const std::uint64_t reg = program.uleb();
          if (op == 0x14) program.uleb(); else program.sleb();
          set_rule(row, reg, {Rule::kUnsupported, 0});
          break;
        }
        case 0x2e: program.uleb(); break;  // DW_CFA_GNU_args_size: no bearing on the CFA
        case 0x2f: {  // DW_CFA_GNU_negative_offset_extended
          const std::uint64_t reg = program.uleb();
          set_rule(row, reg, {Rule::kAtCfaOffset, -static_cast<std::int64_t>(program.uleb()) * cie.data_alignment});
          break;
        }
        default: return false;
      }
    }
    if (!program.ok()) return false;
    // Only the advances and set_loc move the location: the row now in
    // `row` covers pc.
    if (location > pc) return true;
  }
  return program.ok();
}

bool fits_int32(std::int64_t v) noexcept { return v >= INT32_MIN && v <= INT32_MAX; }

}  // namespace

std::optional<FrameShape> describe_frame(const TableSource& source, std::uint64_t fde,
                                         std::uint64_t pc, CieMemo* memo) noexcept {
  std::uint8_t fde_buffer[kMaxEntryBytes];
  std::optional<DwarfBytes> fde_bytes = read_entry(source, fde, fde_buffer);
  if (!fde_bytes) return std::nullopt;
  DwarfBytes& bytes = *fde_bytes;
  // The CIE pointer: the distance back from this field to the CIE.
  const std::uint64_t cie_pointer_at = bytes.vaddr();
  const std::uint32_t cie_distance = bytes.u32();
  if (cie_distance == 0 || cie_distance > cie_pointer_at) return std::nullopt;  // 0: this is a CIE
  const std::uint64_t cie_at = cie_pointer_at - cie_distance;
  std::optional<DwarfBytes> cie_bytes;
  std::uint8_t cie_buffer[kMaxEntryBytes];
  if (memo != nullptr && memo->vaddr == cie_at) {
    cie_bytes = DwarfBytes(memo->bytes, memo->size, cie_at + 4);
  } else {
    cie_bytes = read_entry(source, cie_at, cie_buffer);
    if (!cie_bytes) return std::nullopt;
    if (memo != nullptr && cie_bytes->size() <= CieMemo::kMaxBytes) {
      memo->vaddr = cie_at;
      memo->size = static_cast<std::uint32_t>(cie_bytes->size());
      std::memcpy(memo->bytes, cie_buffer, memo->size);
    }
  }
  const std::optional<Cie> cie = parse_cie(*cie_bytes);
  if (!cie || cie->signal_frame) return std::nullopt;

  const std::uint64_t pc_begin = bytes.encoded(cie->pointer_encoding, 0);
  // pc_range has the encoding's format but is never relative.
  const std::uint64_t pc_range = bytes.encoded(cie->pointer_encoding & 0x0f, 0);
  if (!bytes.ok() || pc < pc_begin || pc - pc_begin >= pc_range) return std::nullopt;
  if (cie->has_augmentation_data) bytes.take(bytes.uleb());
  if (!bytes.ok()) return std::nullopt;

  Row initial;
  std::uint64_t location = pc_begin;
  if (!run(cie->initial_instructions, *cie, initial, location, UINT64_MAX, initial)) return std::nullopt;
  Row row = initial;
  location = pc_begin;
  if (!run(bytes, *cie, initial, location, pc, row)) return std::nullopt;

  if (!row.cfa_supported || (row.cfa_register != kRsp && row.cfa_register != kRbp)) return std::nullopt;
  if (!fits_int32(row.cfa_offset)) return std::nullopt;
  FrameShape shape;
  shape.cfa_from_rbp = row.cfa_register == kRbp;
  shape.cfa_offset = static_cast<std::int32_t>(row.cfa_offset);
  switch (row.return_address.kind) {
    case Rule::kUndefined: shape.outermost = true; break;
    case Rule::kAtCfaOffset:
      if (row.return_address.offset != -8) return std::nullopt;
      break;
    default: return std::nullopt;
  }
  switch (row.rbp.kind) {
    case Rule::kSame:
    case Rule::kUndefined: break;  // undefined only where nothing outer needs it
    case Rule::kAtCfaOffset:
      if (row.rbp.offset < -(1 << 23) || row.rbp.offset >= (1 << 23)) return std::nullopt;
      shape.rbp_saved = true;
      shape.rbp_offset = static_cast<std::int32_t>(row.rbp.offset);
      break;
    default: return std::nullopt;
  }
  return shape;
}

}  // namespace syncscope::prof::internal
