// Builds a pprof profile (profile.proto, gzipped) from samples whose stacks
// are either program counters (symbolized in process) or synthetic named
// frames (the retention profile's "holder" chains). Shared by the heap,
// goroutine and retention profiles so every pprof file syncscope writes uses
// one string-table / location / function convention.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace syncscope::prof {

// A pprof value type, e.g. {"inuse_space", "bytes"}.
struct ValueType {
  std::string type;
  std::string unit;
};

// A sample label, e.g. {"thread", "worker-3"} or a numeric {"bytes", 4096}.
struct SampleLabel {
  std::string key;
  std::string str;        // used when non-empty
  std::int64_t num = 0;   // used when str is empty
  std::string num_unit;   // optional unit for num
};

// A synthetic frame for named stacks (no program counter behind it).
struct NamedFrame {
  std::string function;
  std::string file;  // may be empty
  int line = 0;
};

class ProfileBuilder {
 public:
  // `sample_types` fixes the number and order of values in every sample.
  // `default_sample_type` must name one of them ("" = the last one).
  ProfileBuilder(std::vector<ValueType> sample_types, ValueType period_type,
                 std::int64_t period, std::string default_sample_type = "");
  ~ProfileBuilder();
  ProfileBuilder(const ProfileBuilder&) = delete;
  ProfileBuilder& operator=(const ProfileBuilder&) = delete;

  // A sample whose stack is return addresses, innermost first (as
  // capture_stack writes them). Locations are deduplicated by pc, symbolized
  // with inlined frames expanded and attached to the mapping that holds them.
  void add_sample(std::span<const std::uintptr_t> pcs,
                  std::span<const std::int64_t> values,
                  std::span<const SampleLabel> labels = {});

  // A sample whose stack is named frames, innermost first.
  void add_named_sample(std::span<const NamedFrame> frames,
                        std::span<const std::int64_t> values,
                        std::span<const SampleLabel> labels = {});

  void set_time_nanos(std::int64_t unix_nanos);
  void set_duration_nanos(std::int64_t nanos);
  void add_comment(std::string_view comment);

  // Serialized profile.proto, gzip-compressed (what pprof tools read).
  std::string serialize_gzipped();
  // Same, written to `path` (write_file_atomically).
  absl::Status write_file(const std::string& path);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace syncscope::prof
