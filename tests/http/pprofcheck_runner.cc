#include "http/pprofcheck_runner.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace syncscope::http::testing {

std::string pprofcheck_path() {
  const std::filesystem::path p = test_support::binary_dir() / "bin" / "pprofcheck";
  return std::filesystem::exists(p) ? p.string() : std::string();
}

test_support::CommandResult pprofcheck(const std::string& bytes, const std::string& kind,
                         const std::vector<std::string>& extra) {
  const std::string tool = pprofcheck_path();
  if (tool.empty()) {
    test_support::CommandResult r;
    r.err = "pprofcheck not built: scripts/install-deps.sh installs golang-github-google-pprof-dev";
    return r;
  }
  test_support::ScratchDir dir;
  const std::string file = (dir.path() / (kind + ".pb.gz")).string();
  { std::ofstream(file, std::ios::binary) << bytes; }
  std::vector<std::string> argv = {tool, "-kind", kind};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(file);
  return test_support::run_command(argv, {}, std::chrono::seconds(60));
}

std::optional<std::int64_t> pprofcheck_sum(const test_support::CommandResult& r, const std::string& name) {
  std::istringstream in(r.out);
  std::string word, fn;
  std::int64_t value = 0;
  for (std::string line; std::getline(in, line);) {
    std::istringstream l(line);
    if (l >> word >> fn >> value && word == "sum" && fn == name) return value;
  }
  return std::nullopt;
}

}  // namespace syncscope::http::testing
