// Test helpers: run `go tool pprof` (the real client) on a profile file and
// capture its output, with HOME and PPROF_TMPDIR pointed at a private
// scratch directory as pprof needs a writable cache.
#pragma once

#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace syncscope::prof::test_util {

// A fresh directory under TMPDIR, removed by the destructor.
class ScratchDir {
 public:
  ScratchDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "syncscope-prof-XXXXXX").string();
    if (mkdtemp(templ.data()) != nullptr) path_ = templ;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Runs `command` through the shell; returns stdout+stderr, sets *status.
inline std::string run_command(const std::string& command, int* status) {
  std::string out;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) {
    *status = -1;
    return out;
  }
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  *status = pclose(p);
  return out;
}

// `go tool pprof <args> <profile>`, run in a sandbox with no binary access.
inline std::string go_pprof(const ScratchDir& dir, const std::string& args,
                            const std::string& profile, int* status) {
  const std::string cmd = "cd '" + dir.path() + "' && HOME='" + dir.path() + "' PPROF_TMPDIR='" +
                          dir.path() + "' PPROF_BINARY_PATH=/nonexistent GOFLAGS= go tool pprof " +
                          args + " '" + profile + "'";
  return run_command(cmd, status);
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

}  // namespace syncscope::prof::test_util
