// Runs `go tool pprof` (the real client) on a profile, with HOME and
// PPROF_TMPDIR pointed at a private scratch directory as pprof needs a
// writable cache, and no access to binaries (symbols come from the profile).
#pragma once

#include <string>

#include "support/child_process.h"
#include "support/scratch_dir.h"

namespace syncscope::test_support {

// `go tool pprof <args> <profile>`: stdout and stderr together; sets
// *exit_code (0 = success).
inline std::string go_pprof(const ScratchDir& dir, const std::string& args, const std::string& profile,
                            int* exit_code) {
  const std::string d = shell_quote(dir.path().string());
  const std::string cmd = "cd " + d + " && HOME=" + d + " PPROF_TMPDIR=" + d +
                          " PPROF_BINARY_PATH=/nonexistent GOFLAGS= go tool pprof " + args + " " +
                          shell_quote(profile);
  return run_shell(cmd, exit_code);
}

}  // namespace syncscope::test_support
