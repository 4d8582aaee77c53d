// The system-call half of syncscope::prof::write_file_atomically (see
// syncscope/prof/atomic_file.h for the contract: new O_EXCL | O_NOFOLLOW
// temporary file beside the target, fsync, rename over it). It is here,
// without absl, because the LD_PRELOAD object's core writes its address-only
// dumps through it and loads no absl library; write_file_atomically wraps it
// with an absl::Status, write_profile_file with the preload's bool + message
// (the public API speaks absl::Status only; these bool + message forms are
// internal to the preload, which cannot load absl).
#pragma once

#include <string>
#include <string_view>

namespace syncscope::prof::internal {

// Whether replace_file fsyncs the temporary file before the rename.
enum class Durability {
  kFsync,      // the contract of write_file_atomically: on disk before it is renamed
  kRenameOnly  // atomic for readers (old file or complete new one), not across a crash
};

// 0 on success, else the errno of the failing step, named in *failed_step
// ("create temporary file", "write", "fsync", "close", "rename"). On failure
// the temporary file is removed and `path` is untouched.
int replace_file(const std::string& path, std::string_view bytes, int mode, const char** failed_step,
                 Durability durability = Durability::kFsync);

// replace_file for the LD_PRELOAD object's heap profiles, owner-only (0600:
// profiles name the program's code and addresses), without the fsync
// (Durability::kRenameOnly): every sampling process writes one at exit, and
// an fsync on ext4 blocked python3 -c pass for 0.35-3.8 ms, more than the
// rest of the dump (issue 16, item 1). Readers still see the old file or
// the complete new one; after a system crash the file may be empty. False
// with *error ("cannot write heap profile to PATH: STEP: why") on failure.
bool write_profile_file(const std::string& path, std::string_view bytes, std::string* error);

// HeapProfiler::write_address_profile for the LD_PRELOAD object's core,
// which loads no absl library: the same file through write_profile_file,
// with the same message in *error, as bool + message instead of a Status.
// Defined in heap_profiler.cc.
bool write_address_profile_file(const std::string& path, std::string* error);

}  // namespace syncscope::prof::internal
