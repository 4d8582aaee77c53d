// Configuration of the LD_PRELOAD object, parsed from the environment.
// Bad values are reported (never fatal: the host program must keep running)
// and replaced by the defaults.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace syncscope::prof::internal {

// "<tmpdir>/syncscope-heap.%p.pb.gz" for $TMPDIR = `tmpdir` (nullptr, empty
// or relative: /tmp).
std::string default_output_path(const char* tmpdir);

struct PreloadConfig {
  // SYNCSCOPE_PROFILE_RATE: mean bytes between samples; 1 = every
  // allocation; 0 = hooks count only, no sampling. Default 512 KiB.
  std::int64_t rate = 512 * 1024;
  // SYNCSCOPE_PROFILE_OUT: output path; "%p" becomes the pid. Unset: a
  // per-process file in the temporary directory ($TMPDIR when it is an
  // absolute path, else /tmp), never the program's current directory.
  std::string out = default_output_path(nullptr);
  // True when `out` is that default: the path is printed to stderr once, at
  // the process's first write (the user did not choose it).
  bool out_is_default = true;
  // SYNCSCOPE_PROFILE_INTERVAL_S: also dump every N seconds (0 = only at exit
  // and on SIGUSR2).
  std::int64_t interval_s = 0;
  // SYNCSCOPE_EXACT=1: exact mode from the preload's start (every live block
  // tracked with its site, for retention paths with full allocation sites;
  // costs every allocation a table insert). 0 (default): retention walks the
  // glibc heap instead.
  bool exact = false;
  // SYNCSCOPE_PROFILE_DEBUGINFO=1: the profile's symbolizer may read
  // separate debug files (/usr/lib/debug: lines and inline frames of system
  // libraries; about 150 ms and 20 MiB at the first write when libc6-dbg is
  // installed). Default 0 (names from the libraries' symbol tables), or 1
  // when SYNCSCOPE_HTTP is set (an interactive session).
  bool separate_debuginfo = false;
  // SYNCSCOPE_PROFILE_SYMBOLIZE=1: the exit, interval and SIGUSR2 dumps are
  // symbolized in process (function names, files and lines inside the
  // profile: loads the profile writer and reads the binaries' symbol
  // tables, 5-15 ms at exit). Default 0: the dumps hold addresses and
  // complete mappings (file, build id, offsets), and pprof symbolizes them
  // from the binaries when it reads the profile (issue 16, item 2).
  bool symbolize = false;
  // SYNCSCOPE_SHAPE_WALK=0: stacks are walked by libgcc's unwinder only,
  // never by frame shapes read from the modules' files (the shape walk opens
  // and reads those files inside the allocation hook, at each frame's first
  // sighting; a sandbox that forbids that can turn it off). Default 1.
  bool shape_walk = true;
  // Messages about rejected values, for stderr.
  std::vector<std::string> errors;
};

// An environment lookup: the value of variable `name`, or nullptr; `ctx` is
// the caller's (a plain function pointer and its context: the core object
// links no std::function support, issue 16, item 1).
using EnvLookup = const char* (*)(void* ctx, const char* name);

// The configuration from `getenv(ctx, ...)`, injectable for tests.
PreloadConfig parse_preload_config(EnvLookup getenv, void* ctx);

// `pattern` with every "%p" replaced by `pid`.
std::string expand_output_path(const std::string& pattern, pid_t pid);

}  // namespace syncscope::prof::internal
