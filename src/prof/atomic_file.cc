#include "syncscope/prof/atomic_file.h"

#include "absl/strings/str_cat.h"
#include "prof/profile_file.h"

namespace syncscope::prof {

absl::Status write_file_atomically(const std::string& path, std::string_view bytes, int mode) {
  const char* step = "";
  if (const int error = internal::replace_file(path, bytes, mode, &step); error != 0) {
    return absl::ErrnoToStatus(error, absl::StrCat("cannot write ", path, ": ", step));
  }
  return absl::OkStatus();
}

}  // namespace syncscope::prof
