#include "prof/address_profile.h"

#include <dlfcn.h>
#include <pthread.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdint>
#include <string_view>

#include "prof/elf_symbols.h"
#include "prof/insertion_ids.h"
#include "prof/proto_wire.h"
#include "prof/stored_gzip.h"

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
  std::int64_t index(std::string_view s) { return static_cast<std::int64_t>(ids_.id(s)); }
  void write(ProtoWire& out) const {
    for (const std::string& s : ids_.keys()) out.bytes_field(field::kStringTable, s);
  }

 private:
  InsertionIds<std::string> ids_;  // string_table index = id
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
    bool inserted = false;
    const std::uint64_t id = ids_.id(name, &inserted) + 1;
    if (inserted) {
      ProtoWire f;
      f.varint_field(field::kFunctionId, id);
      f.int64_field(field::kFunctionName, strings_.index(name));
      f.int64_field(field::kFunctionSystemName, strings_.index(name));
      out_.bytes_field(field::kFunction, f.bytes());
    }
    return id;
  }

 private:
  Strings& strings_;
  ProtoWire& out_;
  InsertionIds<std::string> ids_;  // function id = id + 1
};

// Function names for the profile's pcs from each module's symbol table,
// read once per module and only for the modules the stacks touch.
class SymbolNames {
 public:
  // `addrs[i]` lies in mapping `mapping_ids[i]` (0: in none).
  SymbolNames(const std::vector<LoadedModule>& modules, const std::vector<std::uintptr_t>& addrs,
              const std::vector<std::uint64_t>& mapping_ids)
      : names_(addrs.size()) {
    std::vector<std::vector<std::size_t>> by_module(modules.size());
    for (std::size_t i = 0; i < addrs.size(); ++i) {
      if (mapping_ids[i] != 0) by_module[mapping_ids[i] - 1].push_back(i);
    }
    std::vector<std::uint64_t> vaddrs;
    for (std::size_t m = 0; m < modules.size(); ++m) {
      const LoadedModule& module = modules[m];
      // The vdso has no file.
      if (by_module[m].empty() || module.path.empty() || module.path[0] != '/') continue;
      vaddrs.clear();
      for (std::size_t i : by_module[m]) vaddrs.push_back(addrs[i] - module.load_bias);
      std::vector<std::string> found = elf_function_names(module.path, vaddrs);
      const std::string file = module.path.substr(module.path.rfind('/') + 1);
      for (std::size_t k = 0; k < found.size(); ++k) {
        std::string& name = names_[by_module[m][k]];
        name = std::move(found[k]);
        // Where the symbol tables have nothing (a stripped binary),
        // "module+0xADDR" with the ELF address, as the in-process
        // symbolizer names such frames (`addr2line -e module` resolves it).
        if (name.empty()) {
          char offset[32];
          std::snprintf(offset, sizeof offset, "+0x%llx", static_cast<unsigned long long>(vaddrs[k]));
          name = file + offset;
        }
      }
    }
  }
  // The name of addrs[i]; "" when its module has no file or none holds it.
  const std::string& name(std::size_t i) const { return names_[i]; }

 private:
  std::vector<std::string> names_;
};

std::string value_type(Strings& strings, std::string_view type, std::string_view unit) {
  ProtoWire vt;
  vt.int64_field(field::kValueTypeType, strings.index(type));
  vt.int64_field(field::kValueTypeUnit, strings.index(unit));
  return vt.bytes();
}

// zlib's deflate, loaded by the first dump rather than with the LD_PRELOAD
// object (issue 16, item 1): a process that never writes a profile (`ls`,
// most children of a shell) maps no zlib. dlopen'ed once, never closed; a
// process that links zlib itself (python) gets its copy back. Only the
// types and constants come from <zlib.h>.
struct Deflate {
  decltype(&::deflateInit2_) init = nullptr;
  decltype(&::deflateBound) bound = nullptr;
  decltype(&::deflate) run = nullptr;
  decltype(&::deflateEnd) end = nullptr;
};

// Loaded by the first dump that finds it unloaded; a failed load (no
// libz.so.1, or no memory for dlopen) is tried again by the next dump. A
// pthread mutex rather than a function-local static: the core object has no
// C++ runtime to provide the static's guard (issue 16, item 1). Nothing
// under it allocates through operator new (dlopen uses malloc), so no
// out-of-memory return to a recovery point (oom_recovery.h) leaves it held.
pthread_mutex_t g_deflate_mu = PTHREAD_MUTEX_INITIALIZER;
Deflate g_deflate;            // guarded by g_deflate_mu until g_deflate_loaded
bool g_deflate_loaded = false;  // guarded by g_deflate_mu; once true, g_deflate is read only

// zlib's functions into `*d`; false with `why` filled when it cannot be loaded.
bool load_deflate(Deflate* d, char* why, std::size_t why_size) {
  pthread_mutex_lock(&g_deflate_mu);
  if (!g_deflate_loaded) {
    if (void* z = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL)) {
      g_deflate.init = reinterpret_cast<decltype(g_deflate.init)>(dlsym(z, "deflateInit2_"));
      g_deflate.bound = reinterpret_cast<decltype(g_deflate.bound)>(dlsym(z, "deflateBound"));
      g_deflate.run = reinterpret_cast<decltype(g_deflate.run)>(dlsym(z, "deflate"));
      g_deflate.end = reinterpret_cast<decltype(g_deflate.end)>(dlsym(z, "deflateEnd"));
      g_deflate_loaded = g_deflate.init != nullptr && g_deflate.bound != nullptr &&
                         g_deflate.run != nullptr && g_deflate.end != nullptr;
      if (!g_deflate_loaded) std::snprintf(why, why_size, "zlib: libz.so.1 lacks deflate");
    } else {
      const char* e = dlerror();
      std::snprintf(why, why_size, "zlib: cannot load libz.so.1: %s", e != nullptr ? e : "unknown error");
    }
  }
  const bool loaded = g_deflate_loaded;
  if (loaded) *d = g_deflate;
  pthread_mutex_unlock(&g_deflate_mu);
  return loaded;
}

// Profiles smaller than this are gzipped without compression (see gzip).
constexpr std::size_t kStoreBelow = 64 * 1024;

// `raw` gzipped into `*out`; false with `*error` set when zlib cannot be
// loaded or fails.
bool gzip(const std::string& raw, std::string* out, std::string* error) {
  // Below kStoreBelow bytes, stored blocks without zlib (stored_gzip.h): the
  // profile of a short process, a few kilobytes, is not worth compressing
  // at exit, nor worth loading zlib for. Level 1 cost `python3 -c pass`
  // 473,000 instructions for its 1.7 KiB file, two fifths of its exit dump;
  // zlib's level 0 still cost the dlopen and deflate's set-up (callgrind).
  if (raw.size() < kStoreBelow) return stored_gzip(raw, out);
  Deflate z_lib;
  char why[256] = "";
  if (!load_deflate(&z_lib, why, sizeof why)) {
    *error = why;
    return false;
  }
  z_stream z{};
  // The window no larger than the input (2^9 to 2^15 bytes) and the hash
  // table in proportion: deflate's state is 2^(window_bits + 2) +
  // 2^(mem_level + 9) bytes (zlib.h), 256 KiB at the defaults, most of it
  // touched, for the few kilobytes a short process's profile holds. A
  // window at least the input's size finds every match the default would.
  int window_bits = 9;
  while (window_bits < 15 && (std::size_t{1} << window_bits) < raw.size()) ++window_bits;
  const int mem_level = window_bits - 7;  // 8 at window_bits 15, zlib's default pairing
  // + 16: a gzip header and trailer around the deflate stream. Level 1:
  // the dump runs at exit, where time matters more than a few kilobytes.
  // (deflateInit2 is a macro over deflateInit2_ with the header's version.)
  if (z_lib.init(&z, 1, Z_DEFLATED, window_bits + 16, mem_level, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                 static_cast<int>(sizeof(z_stream))) != Z_OK) {
    *error = "zlib: deflateInit2 failed";
    return false;
  }
  out->assign(z_lib.bound(&z, raw.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out->data());
  z.avail_out = static_cast<uInt>(out->size());
  const int rc = z_lib.run(&z, Z_FINISH);
  z_lib.end(&z);
  if (rc != Z_STREAM_END) {
    out->clear();
    *error = "zlib: deflate failed";
    return false;
  }
  out->resize(z.total_out);
  return true;
}

}  // namespace

std::string address_profile_bytes(const HeapSnapshot& snap, const std::vector<LoadedModule>& modules,
                                  std::string* error) {
  Strings strings;
  ProtoWire profile;
  ProtoWire msg;
  for (auto [type, unit] : {std::pair{"alloc_objects", "count"}, {"alloc_space", "bytes"},
                            {"inuse_objects", "count"}, {"inuse_space", "bytes"}}) {
    profile.bytes_field(field::kSampleType, value_type(strings, type, unit));
  }

  // Locations, one per distinct pc; id = order of first use (pcs[id - 1]).
  const MappingIndex mappings(modules);
  InsertionIds<std::uintptr_t> location_of_pc;  // location id = id + 1
  std::vector<std::uintptr_t> addrs;            // by location id - 1: inside the call instruction
  std::vector<std::uint64_t> addr_mappings;     // by location id - 1: its mapping id, 0 for none
  Functions functions(strings, profile);
  std::uint64_t unknown_stack_location = 0;     // a location id; 0 until a sample has no stack
  std::vector<std::uint64_t> ids;
  for (const HeapSample& s : snap.samples) {
    ids.clear();
    for (std::uintptr_t pc : s.pcs) {
      bool inserted = false;
      const std::uint64_t id = location_of_pc.id(pc, &inserted) + 1;
      if (inserted) {
        const std::uintptr_t addr = pc > 0 ? pc - 1 : pc;
        addrs.push_back(addr);
        addr_mappings.push_back(mappings.id_of(addr));
      }
      ids.push_back(id);
    }
    if (s.pcs.empty()) {
      if (unknown_stack_location == 0) {
        unknown_stack_location = location_of_pc.id(0) + 1;  // pc 0 is never captured
        addrs.push_back(0);
        addr_mappings.push_back(0);
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

  // Names, one read of each touched module's symbol table for all its pcs.
  const SymbolNames names(modules, addrs, addr_mappings);
  ProtoWire locations;
  for (std::size_t i = 0; i < addrs.size(); ++i) {
    const std::uint64_t id = i + 1;
    msg.clear();
    msg.varint_field(field::kLocationId, id);
    if (id == unknown_stack_location) {
      ProtoWire line;
      line.varint_field(field::kLineFunctionId, functions.id_of("[unknown stack]"));
      msg.bytes_field(field::kLocationLine, line.bytes());
      locations.bytes_field(field::kLocation, msg.bytes());
      continue;
    }
    if (addr_mappings[i] != 0) msg.varint_field(field::kLocationMappingId, addr_mappings[i]);
    msg.varint_field(field::kLocationAddress, addrs[i]);
    // A name from the symbol table, no line: pprof replaces it with what it
    // finds in the binary's DWARF and keeps it where it finds nothing (Go's
    // pprof reads DWARF only).
    if (const std::string& name = names.name(i); !name.empty()) {
      ProtoWire line;
      line.varint_field(field::kLineFunctionId, functions.id_of(name));
      msg.bytes_field(field::kLocationLine, line.bytes());
    }
    locations.bytes_field(field::kLocation, msg.bytes());
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
  std::string gzipped;
  std::string why;
  if (!gzip(raw, &gzipped, &why) && error != nullptr) *error = std::move(why);
  return gzipped;
}

}  // namespace syncscope::prof::internal
