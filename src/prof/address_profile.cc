#include "prof/address_profile.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <cstdint>
#include <stdexcept>
#include <string_view>
#include <unordered_map>

#include "prof/elf_symbols.h"
#include "prof/proto_wire.h"

namespace syncscope::prof::internal {
namespace {

// Field numbers of src/prof/profile.proto (identical to pprof's).
namespace field {
constexpr std::uint32_t kSampleType = 1, kSample = 2, kMapping = 3, kLocation = 4,
                        kFunction = 5, kStringTable = 6, kTimeNanos = 9, kPeriodType = 11,
                        kPeriod = 12, kComment = 13, kDefaultSampleType = 14;
constexpr std::uint32_t kValueTypeType = 1, kValueTypeUnit = 2;
constexpr std::uint32_t kSampleLocationId = 1, kSampleValue = 2;
constexpr std::uint32_t kMappingId = 1, kMappingStart = 2, kMappingLimit = 3,
                        kMappingOffset = 4, kMappingFilename = 5, kMappingBuildId = 6;
constexpr std::uint32_t kLocationId = 1, kLocationMappingId = 2, kLocationAddress = 3,
                        kLocationLine = 4;
constexpr std::uint32_t kLineFunctionId = 1;
constexpr std::uint32_t kFunctionId = 1, kFunctionName = 2, kFunctionSystemName = 3;
}  // namespace field

// The string table: string_table[0] is "" as pprof requires.
class Strings {
 public:
  Strings() { index(""); }
  std::int64_t index(std::string_view s) {
    auto [it, inserted] = ids_.try_emplace(std::string(s), static_cast<std::int64_t>(ids_.size()));
    if (inserted) order_.push_back(&it->first);
    return it->second;
  }
  void write(ProtoWire& out) const {
    for (const std::string* s : order_) out.bytes_field(field::kStringTable, *s);
  }

 private:
  std::unordered_map<std::string, std::int64_t> ids_;
  std::vector<const std::string*> order_;  // pointers into ids_' nodes (stable)
};

// Mapping ids by address: modules sorted by start, with their ids (index+1
// in the caller's order, which keeps the main binary first).
class MappingIndex {
 public:
  explicit MappingIndex(const std::vector<LoadedModule>& modules) {
    for (std::size_t i = 0; i < modules.size(); ++i) {
      ranges_.push_back({modules[i].start, modules[i].limit, i + 1});
    }
    std::sort(ranges_.begin(), ranges_.end(),
              [](const Range& a, const Range& b) { return a.start < b.start; });
  }
  // 0 when no module holds addr (JIT code, an unloaded library).
  std::uint64_t id_of(std::uintptr_t addr) const {
    auto it = std::upper_bound(ranges_.begin(), ranges_.end(), addr,
                               [](std::uintptr_t a, const Range& r) { return a < r.start; });
    if (it == ranges_.begin()) return 0;
    --it;
    return addr < it->limit ? it->id : 0;
  }

 private:
  struct Range {
    std::uintptr_t start, limit;
    std::uint64_t id;
  };
  std::vector<Range> ranges_;
};

// Function entries by name (ids from 1), written into `out` as they appear.
class Functions {
 public:
  Functions(Strings& strings, ProtoWire& out) : strings_(strings), out_(out) {}
  std::uint64_t id_of(const std::string& name) {
    auto [it, inserted] = ids_.try_emplace(name, ids_.size() + 1);
    if (inserted) {
      ProtoWire f;
      f.varint_field(field::kFunctionId, it->second);
      f.int64_field(field::kFunctionName, strings_.index(name));
      f.int64_field(field::kFunctionSystemName, strings_.index(name));
      out_.bytes_field(field::kFunction, f.bytes());
    }
    return it->second;
  }

 private:
  Strings& strings_;
  ProtoWire& out_;
  std::unordered_map<std::string, std::uint64_t> ids_;
};

// Function names from each module's symbol table, read on the module's
// first pc (only modules the profile's stacks touch are read).
class SymbolNames {
 public:
  explicit SymbolNames(const std::vector<LoadedModule>& modules)
      : modules_(modules), tables_(modules.size()) {}
  // "" when the module has no file. Where its symbol tables have nothing
  // (a stripped binary), "module+0xADDR" with the ELF address, as the
  // in-process symbolizer names such frames (`addr2line -e module` resolves
  // it later).
  std::string name_at(std::uint64_t mapping_id, std::uintptr_t addr) {
    if (mapping_id == 0) return "";
    const LoadedModule& m = modules_[mapping_id - 1];
    if (m.path.empty() || m.path[0] != '/') return "";  // the vdso has no file
    std::unique_ptr<ElfSymbols>& table = tables_[mapping_id - 1];
    if (table == nullptr) table = std::make_unique<ElfSymbols>(m.path);
    std::string name = table->name_at(addr - m.load_bias);
    if (name.empty()) {
      char offset[32];
      std::snprintf(offset, sizeof offset, "+0x%llx",
                    static_cast<unsigned long long>(addr - m.load_bias));
      name = m.path.substr(m.path.rfind('/') + 1) + offset;
    }
    return name;
  }

 private:
  const std::vector<LoadedModule>& modules_;
  std::vector<std::unique_ptr<ElfSymbols>> tables_;  // by mapping id - 1
};

std::string value_type(Strings& strings, std::string_view type, std::string_view unit) {
  ProtoWire vt;
  vt.int64_field(field::kValueTypeType, strings.index(type));
  vt.int64_field(field::kValueTypeUnit, strings.index(unit));
  return vt.bytes();
}

std::string gzip(const std::string& raw) {
  z_stream z{};
  // 15 + 16: a gzip header and trailer around the deflate stream. Level 1:
  // the dump runs at exit, where time matters more than a few kilobytes.
  if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("zlib: deflateInit2 failed");
  }
  std::string out(deflateBound(&z, raw.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("zlib: deflate failed");
  out.resize(z.total_out);
  return out;
}

}  // namespace

std::string address_profile_bytes(const HeapSnapshot& snap,
                                  const std::vector<LoadedModule>& modules) {
  Strings strings;
  ProtoWire profile;
  ProtoWire msg;
  for (auto [type, unit] : {std::pair{"alloc_objects", "count"}, {"alloc_space", "bytes"},
                            {"inuse_objects", "count"}, {"inuse_space", "bytes"}}) {
    profile.bytes_field(field::kSampleType, value_type(strings, type, unit));
  }

  // Locations, one per distinct pc; id = order of first use.
  const MappingIndex mappings(modules);
  std::unordered_map<std::uintptr_t, std::uint64_t> location_of_pc;
  ProtoWire locations;
  Functions functions(strings, profile);
  SymbolNames names(modules);
  std::uint64_t unknown_stack_location = 0;
  std::vector<std::uint64_t> ids;
  for (const HeapSample& s : snap.samples) {
    ids.clear();
    for (std::uintptr_t pc : s.pcs) {
      auto [it, inserted] = location_of_pc.try_emplace(pc, location_of_pc.size() + 1);
      if (inserted) {
        const std::uintptr_t addr = pc > 0 ? pc - 1 : pc;  // inside the call instruction
        const std::uint64_t m = mappings.id_of(addr);
        msg.clear();
        msg.varint_field(field::kLocationId, it->second);
        if (m != 0) msg.varint_field(field::kLocationMappingId, m);
        msg.varint_field(field::kLocationAddress, addr);
        // A name from the symbol table, no line: pprof replaces it with
        // what it finds in the binary's DWARF and keeps it where it finds
        // nothing (Go's pprof reads DWARF only).
        if (const std::string name = names.name_at(m, addr); !name.empty()) {
          ProtoWire line;
          line.varint_field(field::kLineFunctionId, functions.id_of(name));
          msg.bytes_field(field::kLocationLine, line.bytes());
        }
        locations.bytes_field(field::kLocation, msg.bytes());
      }
      ids.push_back(it->second);
    }
    if (s.pcs.empty()) {
      if (unknown_stack_location == 0) {
        unknown_stack_location = location_of_pc.size() + 1;
        location_of_pc.try_emplace(0, unknown_stack_location);  // pc 0 is never captured
        ProtoWire line;
        line.varint_field(field::kLineFunctionId, functions.id_of("[unknown stack]"));
        msg.clear();
        msg.varint_field(field::kLocationId, unknown_stack_location);
        msg.bytes_field(field::kLocationLine, line.bytes());
        locations.bytes_field(field::kLocation, msg.bytes());
      }
      ids.push_back(unknown_stack_location);
    }
    const std::int64_t values[] = {s.alloc_objects, s.alloc_bytes, s.inuse_objects,
                                   s.inuse_bytes};
    msg.clear();
    msg.packed_field(field::kSampleLocationId, std::span<const std::uint64_t>(ids));
    msg.packed_field(field::kSampleValue, std::span<const std::int64_t>(values));
    profile.bytes_field(field::kSample, msg.bytes());
  }

  for (std::size_t i = 0; i < modules.size(); ++i) {
    const LoadedModule& m = modules[i];
    msg.clear();
    msg.varint_field(field::kMappingId, i + 1);
    msg.varint_field(field::kMappingStart, m.start);
    msg.varint_field(field::kMappingLimit, m.limit);
    msg.varint_field(field::kMappingOffset, m.file_offset);
    msg.int64_field(field::kMappingFilename, strings.index(m.path));
    msg.int64_field(field::kMappingBuildId, strings.index(m.build_id));
    // has_functions/filenames/line_numbers/inline_frames stay false: pprof
    // symbolizes these mappings from their files.
    profile.bytes_field(field::kMapping, msg.bytes());
  }
  // Fields may come in any order on the wire: locations were encoded apart.
  std::string raw = profile.bytes();
  raw += locations.bytes();

  ProtoWire tail;
  tail.int64_field(field::kTimeNanos, snap.time_nanos);
  tail.bytes_field(field::kPeriodType, value_type(strings, "space", "bytes"));
  tail.int64_field(field::kPeriod, snap.sample_rate);
  tail.int64_field(field::kComment,
                   strings.index("syncscope heap profile; sampling rate " +
                                 std::to_string(snap.sample_rate) +
                                 " bytes; values are unbiased estimates; addresses only "
                                 "(pprof symbolizes them from the binaries)"));
  tail.int64_field(field::kDefaultSampleType, strings.index("inuse_space"));
  strings.write(tail);  // last: every string above is interned by now
  raw += tail.bytes();
  return gzip(raw);
}

}  // namespace syncscope::prof::internal
