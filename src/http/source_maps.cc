// map adapter: MapRegistry snapshot with unique names.
#include <map>

#include "absl/strings/str_cat.h"
#include "http/sources.h"

namespace syncscope::http::internal {

std::vector<map::NamedMapStats> map_figures() {
  std::vector<map::NamedMapStats> out = map::MapRegistry::instance().snapshot();
  std::map<std::string, int> seen;  // name -> occurrences so far
  for (map::NamedMapStats& m : out) {
    const int n = ++seen[m.name];
    if (n > 1) m.name = absl::StrCat(m.name, "#", n);
  }
  return out;
}

}  // namespace syncscope::http::internal
