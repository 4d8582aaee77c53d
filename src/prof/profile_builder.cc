// ProfileBuilder: fills the protoc-generated perftools::profiles::Profile
// (our own src/prof/profile.proto) and gzips it with protobuf's
// GzipOutputStream. One string table, one Function per (name, file), one
// Location per pc (or per named frame), one Mapping per loaded module, and
// every Location has a Mapping (pprof's CheckValid does not demand it, but a
// scraper's ingester has crashed on one without): named frames and pcs that
// no loaded module holds get the synthetic "[syncscope]" mapping, which
// pprof never tries to symbolize (its name starts with '[').
#include "syncscope/prof/profile_builder.h"

#include <google/protobuf/io/gzip_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <tuple>
#include <unordered_map>

#include "profile.pb.h"  // generated from src/prof/profile.proto
#include "syncscope/prof/atomic_file.h"
#include "syncscope/prof/symbolizer.h"

namespace syncscope::prof {

namespace pb = perftools::profiles;

struct ProfileBuilder::Impl {
  pb::Profile profile;
  std::size_t value_count = 0;
  std::unordered_map<std::string, std::int64_t> strings;  // text -> string_table index
  std::map<std::pair<std::string, std::string>, std::uint64_t> functions;  // (name, file) -> id
  std::unordered_map<std::uintptr_t, std::uint64_t> pc_locations;          // pc -> location id
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> named_locations;
  std::vector<LoadedModule> modules;  // index i is mapping id module_id_base+i+1
  std::uint64_t module_id_base = 0;   // mappings added before the modules (the synthetic one)
  bool modules_loaded = false;
  std::uint64_t synthetic_mapping = 0;  // id of "[syncscope]", 0 until first needed

  std::int64_t intern(std::string_view s) {
    auto [it, inserted] = strings.try_emplace(std::string(s), profile.string_table_size());
    if (inserted) profile.add_string_table(it->first);
    return it->second;
  }

  std::uint64_t function_id(const std::string& name, const std::string& file) {
    auto [it, inserted] = functions.try_emplace({name, file}, profile.function_size() + 1);
    if (inserted) {
      pb::Function* f = profile.add_function();
      f->set_id(it->second);
      f->set_name(intern(name));
      f->set_system_name(intern(name));
      f->set_filename(intern(file));
    }
    return it->second;
  }

  void load_modules() {
    modules_loaded = true;
    modules = Symbolizer::instance().modules();
    module_id_base = static_cast<std::uint64_t>(profile.mapping_size());
    // pprof treats the first mapping as the main binary; dl_iterate_phdr
    // lists the executable first, so keep that order for the ids.
    for (std::size_t i = 0; i < modules.size(); ++i) {
      const LoadedModule& m = modules[i];
      pb::Mapping* mp = profile.add_mapping();
      mp->set_id(module_id_base + i + 1);
      mp->set_memory_start(m.start);
      mp->set_memory_limit(m.limit);
      mp->set_file_offset(m.file_offset);
      mp->set_filename(intern(m.path));
      mp->set_build_id(intern(m.build_id));
      // Symbolized in process: tells pprof not to look for the binary.
      mp->set_has_functions(true);
      mp->set_has_filenames(true);
      mp->set_has_line_numbers(true);
      mp->set_has_inline_frames(true);
    }
  }

  // The mapping of named frames and of pcs outside every loaded module.
  std::uint64_t synthetic_mapping_id() {
    if (synthetic_mapping != 0) return synthetic_mapping;
    // Modules first, so the executable stays mapping 1 (pprof's main binary).
    if (!modules_loaded) load_modules();
    synthetic_mapping = static_cast<std::uint64_t>(profile.mapping_size()) + 1;
    pb::Mapping* mp = profile.add_mapping();
    mp->set_id(synthetic_mapping);
    mp->set_filename(intern("[syncscope]"));
    mp->set_has_functions(true);
    mp->set_has_filenames(true);
    mp->set_has_line_numbers(true);
    mp->set_has_inline_frames(true);
    return synthetic_mapping;
  }

  std::uint64_t mapping_for(std::uintptr_t pc) {
    for (std::size_t i = 0; i < modules.size(); ++i) {
      if (pc >= modules[i].start && pc < modules[i].limit) return module_id_base + i + 1;
    }
    return synthetic_mapping_id();
  }

  std::uint64_t location_for_pc(std::uintptr_t pc) {
    auto it = pc_locations.find(pc);
    if (it != pc_locations.end()) return it->second;
    if (!modules_loaded) load_modules();
    const std::uint64_t id = profile.location_size() + 1;
    pb::Location* loc = profile.add_location();
    loc->set_id(id);
    loc->set_address(pc);
    loc->set_mapping_id(mapping_for(pc));
    // Return addresses point after the call; pc-1 is inside the call's line.
    for (const SymbolFrame& f : Symbolizer::instance().symbolize(pc > 0 ? pc - 1 : pc)) {
      pb::Line* line = loc->add_line();
      line->set_function_id(function_id(f.function, f.file));
      line->set_line(f.line);
    }
    pc_locations.emplace(pc, id);
    return id;
  }

  std::uint64_t location_for_named(const NamedFrame& f) {
    auto key = std::make_tuple(f.function, f.file, f.line);
    auto [it, inserted] = named_locations.try_emplace(key, profile.location_size() + 1);
    if (inserted) {
      pb::Location* loc = profile.add_location();
      loc->set_id(it->second);
      loc->set_mapping_id(synthetic_mapping_id());
      pb::Line* line = loc->add_line();
      line->set_function_id(function_id(f.function, f.file));
      line->set_line(f.line);
    }
    return it->second;
  }

  pb::Sample* new_sample(std::span<const std::int64_t> values,
                         std::span<const SampleLabel> labels) {
    if (values.size() != value_count) {
      throw std::invalid_argument("ProfileBuilder: sample has " +
                                  std::to_string(values.size()) + " values, expected " +
                                  std::to_string(value_count));
    }
    pb::Sample* s = profile.add_sample();
    for (std::int64_t v : values) s->add_value(v);
    for (const SampleLabel& l : labels) {
      pb::Label* pl = s->add_label();
      pl->set_key(intern(l.key));
      if (!l.str.empty()) {
        pl->set_str(intern(l.str));
      } else {
        pl->set_num(l.num);
        if (!l.num_unit.empty()) pl->set_num_unit(intern(l.num_unit));
      }
    }
    return s;
  }
};

ProfileBuilder::ProfileBuilder(std::vector<ValueType> sample_types, ValueType period_type,
                               std::int64_t period, std::string default_sample_type)
    : impl_(std::make_unique<Impl>()) {
  impl_->intern("");  // string_table[0] must be ""
  impl_->value_count = sample_types.size();
  for (const ValueType& t : sample_types) {
    pb::ValueType* vt = impl_->profile.add_sample_type();
    vt->set_type(impl_->intern(t.type));
    vt->set_unit(impl_->intern(t.unit));
  }
  impl_->profile.mutable_period_type()->set_type(impl_->intern(period_type.type));
  impl_->profile.mutable_period_type()->set_unit(impl_->intern(period_type.unit));
  impl_->profile.set_period(period);
  if (default_sample_type.empty() && !sample_types.empty()) {
    default_sample_type = sample_types.back().type;
  }
  const bool known = std::any_of(sample_types.begin(), sample_types.end(),
                                 [&](const ValueType& t) { return t.type == default_sample_type; });
  if (!known) {
    throw std::invalid_argument("ProfileBuilder: default sample type '" + default_sample_type +
                                "' is not one of the sample types");
  }
  impl_->profile.set_default_sample_type(impl_->intern(default_sample_type));
}

ProfileBuilder::~ProfileBuilder() = default;

void ProfileBuilder::add_sample(std::span<const std::uintptr_t> pcs,
                                std::span<const std::int64_t> values,
                                std::span<const SampleLabel> labels) {
  pb::Sample* s = impl_->new_sample(values, labels);
  for (std::uintptr_t pc : pcs) s->add_location_id(impl_->location_for_pc(pc));
}

void ProfileBuilder::add_named_sample(std::span<const NamedFrame> frames,
                                      std::span<const std::int64_t> values,
                                      std::span<const SampleLabel> labels) {
  pb::Sample* s = impl_->new_sample(values, labels);
  for (const NamedFrame& f : frames) s->add_location_id(impl_->location_for_named(f));
}

void ProfileBuilder::set_time_nanos(std::int64_t unix_nanos) {
  impl_->profile.set_time_nanos(unix_nanos);
}

void ProfileBuilder::set_duration_nanos(std::int64_t nanos) {
  impl_->profile.set_duration_nanos(nanos);
}

void ProfileBuilder::add_comment(std::string_view comment) {
  impl_->profile.add_comment(impl_->intern(comment));
}

std::string ProfileBuilder::serialize_gzipped() {
  std::string out;
  {
    google::protobuf::io::StringOutputStream raw(&out);
    google::protobuf::io::GzipOutputStream::Options options;
    options.format = google::protobuf::io::GzipOutputStream::GZIP;
    google::protobuf::io::GzipOutputStream gz(&raw, options);
    if (!impl_->profile.SerializeToZeroCopyStream(&gz) || !gz.Close()) {
      throw std::runtime_error("ProfileBuilder: gzip/protobuf serialization failed");
    }
  }
  return out;
}

absl::Status ProfileBuilder::write_file(const std::string& path) {
  return write_file_atomically(path, serialize_gzipped());
}

}  // namespace syncscope::prof
