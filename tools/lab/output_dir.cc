#include "output_dir.h"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

namespace syncscope::lab {
namespace fs = std::filesystem;

std::string prepare_output_root(const std::string& root) {
  if (root.empty()) return "--out must not be empty";
  std::error_code ec;
  if (fs::exists(root, ec) && !fs::is_directory(root, ec)) return "--out " + root + ": not a directory";
  fs::create_directories(root, ec);
  if (ec) return "--out " + root + ": cannot create: " + ec.message();
  StagedDir probe(root, "write-check");
  if (!probe.ok()) return probe.error();
  return "";
}

StagedDir::StagedDir(const std::string& root, const std::string& name) {
  final_ = (fs::path(root) / name).string();
  std::string tmpl = (fs::path(root) / ("." + name + ".tmp-XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    error_ = "--out " + root + ": cannot create a folder there: " + std::strerror(errno);
    return;
  }
  tmp_ = buf.data();
}

StagedDir::~StagedDir() {
  if (!tmp_.empty() && !committed_) {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }
}

std::string StagedDir::path(const std::string& file) const { return (fs::path(tmp_) / file).string(); }

bool StagedDir::commit() {
  std::error_code ec;
  // Move an older result aside first, so the new one appears in one rename.
  const std::string old = tmp_ + ".old";
  const bool had_old = fs::exists(final_, ec);
  if (had_old) {
    fs::rename(final_, old, ec);
    if (ec) {
      error_ = "cannot replace " + final_ + ": " + ec.message();
      return false;
    }
  }
  fs::rename(tmp_, final_, ec);
  if (ec) {
    error_ = "cannot move results to " + final_ + ": " + ec.message();
    if (had_old) fs::rename(old, final_, ec);
    return false;
  }
  committed_ = true;
  // mkdtemp made it 0700; results are for whoever may read the parent.
  fs::permissions(final_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec, ec);
  if (had_old) fs::remove_all(old, ec);
  return true;
}

}  // namespace syncscope::lab
