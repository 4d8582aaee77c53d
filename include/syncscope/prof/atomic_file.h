// The one way the project writes a file: every profile, trace and report
// writer (heap, goroutine and retention profiles, traces, the lab's files)
// goes through write_file_atomically, so all of them behave alike.
//
// Contract: `bytes` go to a new temporary file beside `path` (created with
// O_EXCL | O_NOFOLLOW: in a shared directory such as /tmp a planted file or
// symlink of that name makes the write fail instead of redirecting it), are
// fsync'ed, and the file is renamed over `path`. Readers see the old file or
// the complete new one, never a torn one; `path` itself is replaced, not a
// file a symlink there points to. On failure the temporary file is removed
// and `path` is untouched.
//
// Errors: the errno of the failing step, as absl::ErrnoToStatus does, with
// the step and the path in the message ("cannot write /x/heap.pb.gz:
// create temporary file: Permission denied").
//
// Thread safety: concurrent calls (also for one path) use distinct
// temporary files; the last rename wins.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace syncscope::prof {

// `mode`: permissions of the new file (before the umask); 0600 for files
// that name the program's code and addresses only to its owner.
absl::Status write_file_atomically(const std::string& path, std::string_view bytes, int mode = 0644);

}  // namespace syncscope::prof
