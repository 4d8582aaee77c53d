// Output folders that are never half-written: a scenario writes into a
// hidden temporary folder beside its final place and renames it into place
// only when every file is written.
#pragma once

#include <string>

namespace syncscope::lab {

// Creates `root` (and parents) if needed and checks that a folder can be
// created inside it. Returns "" on success, else a one-line reason.
std::string prepare_output_root(const std::string& root);

class StagedDir {
 public:
  // Creates root/.<name>.tmp-XXXXXX. ok() false (and error()) on failure.
  StagedDir(const std::string& root, const std::string& name);
  ~StagedDir();  // removes the temporary folder unless committed
  StagedDir(const StagedDir&) = delete;
  StagedDir& operator=(const StagedDir&) = delete;

  bool ok() const { return !tmp_.empty(); }
  const std::string& error() const { return error_; }
  // Path of `file` inside the temporary folder.
  std::string path(const std::string& file) const;
  // Replaces root/<name> with the temporary folder. False (and error()) on failure.
  bool commit();
  const std::string& final_path() const { return final_; }

 private:
  std::string tmp_;
  std::string final_;
  std::string error_;
  bool committed_ = false;
};

}  // namespace syncscope::lab
