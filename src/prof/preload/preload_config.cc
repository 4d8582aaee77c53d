#include "prof/preload/preload_config.h"

#include <charconv>
#include <string_view>

namespace syncscope::prof::internal {
namespace {

// A whole-string decimal integer in [min, max], or false.
bool parse_int(std::string_view text, std::int64_t min, std::int64_t max, std::int64_t* out) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max) return false;
  *out = v;
  return true;
}

// The variables, read through the caller's lookup.
struct Env {
  EnvLookup lookup;
  void* ctx;
  const char* operator()(const char* name) const { return lookup(ctx, name); }
};

void read_int(const Env& getenv, const char* name, std::int64_t min, std::int64_t max,
              std::int64_t* field, std::vector<std::string>* errors) {
  const char* value = getenv(name);
  if (value == nullptr) return;
  if (!parse_int(value, min, max, field)) {
    errors->push_back(std::string(name) + "='" + value + "' is not an integer in [" +
                      std::to_string(min) + ", " + std::to_string(max) + "]; using " +
                      std::to_string(*field));
  }
}

}  // namespace

std::string default_output_path(const char* tmpdir) {
  std::string dir = tmpdir != nullptr && tmpdir[0] == '/' ? tmpdir : "/tmp";
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir != "/") dir += '/';
  return dir + "syncscope-heap.%p.pb.gz";
}

PreloadConfig parse_preload_config(EnvLookup lookup, void* ctx) {
  const Env getenv{lookup, ctx};
  PreloadConfig c;
  read_int(getenv, "SYNCSCOPE_PROFILE_RATE", 0, std::int64_t{1} << 40, &c.rate, &c.errors);
  read_int(getenv, "SYNCSCOPE_PROFILE_INTERVAL_S", 0, 86400 * 365, &c.interval_s, &c.errors);
  std::int64_t exact = 0;
  read_int(getenv, "SYNCSCOPE_EXACT", 0, 1, &exact, &c.errors);
  c.exact = exact == 1;
  const char* http = getenv("SYNCSCOPE_HTTP");
  std::int64_t debuginfo = http != nullptr && *http != '\0' ? 1 : 0;
  read_int(getenv, "SYNCSCOPE_PROFILE_DEBUGINFO", 0, 1, &debuginfo, &c.errors);
  c.separate_debuginfo = debuginfo == 1;
  std::int64_t symbolize = 0;
  read_int(getenv, "SYNCSCOPE_PROFILE_SYMBOLIZE", 0, 1, &symbolize, &c.errors);
  c.symbolize = symbolize == 1;
  std::int64_t shape_walk = 1;
  read_int(getenv, "SYNCSCOPE_SHAPE_WALK", 0, 1, &shape_walk, &c.errors);
  c.shape_walk = shape_walk == 1;
  c.out = default_output_path(getenv("TMPDIR"));
  if (const char* out = getenv("SYNCSCOPE_PROFILE_OUT")) {
    if (*out == '\0') {
      c.errors.push_back("SYNCSCOPE_PROFILE_OUT is empty; using " + c.out);
    } else {
      c.out = out;
      c.out_is_default = false;
    }
  }
  return c;
}

std::string expand_output_path(const std::string& pattern, pid_t pid) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == 'p') {
      out += std::to_string(pid);
      ++i;
    } else {
      out += pattern[i];
    }
  }
  return out;
}

}  // namespace syncscope::prof::internal
