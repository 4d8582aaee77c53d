// Test helpers for files: a private scratch directory, whole-file reads and
// the build directory under test.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace syncscope::test_support {

// A fresh directory under TMPDIR (mkdtemp), removed recursively by the
// destructor. Aborts when none can be made: no test can run without it.
class ScratchDir {
 public:
  ScratchDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "syncscope-test-XXXXXX").string();
    if (mkdtemp(templ.data()) == nullptr) std::abort();
    path_ = templ;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // path()/name as a string, for commands and APIs that take one.
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The whole file; empty when it cannot be read.
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The build directory under test: $SYNCSCOPE_BINARY_DIR (ctest sets it),
// else the parent of the test executable's bin/ directory.
inline std::filesystem::path binary_dir() {
  const char* env = std::getenv("SYNCSCOPE_BINARY_DIR");
  if (env != nullptr && *env != '\0') return env;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::current_path() : exe.parent_path().parent_path();
}

}  // namespace syncscope::test_support
