// Extension point of the LD_PRELOAD object (libsyncscope_preload.so).
//
// The preload object configures the heap profiler from the environment
// (SYNCSCOPE_PROFILE_RATE, SYNCSCOPE_PROFILE_OUT, SYNCSCOPE_PROFILE_INTERVAL_S;
// see docs/prof.md) in a constructor that runs before the program's own.
// When SYNCSCOPE_HTTP is set (non-empty), it then loads its extension object,
// libsyncscope_preload_http.so from its own directory, and calls that object's
// syncscope_preload_start_extensions() once. The debug server plugs in here:
// define the function in a source added to the syncscope_preload_http target,
// read SYNCSCOPE_HTTP there and start the server thread. Without
// SYNCSCOPE_HTTP only the profile writer (libsyncscope_preload_ext.so) is
// loaded, when a profile is written, so a preloaded process that does
// neither maps none of their libraries (issue 16).
//
// The function runs on the main thread during dynamic-loader initialization:
// keep it short (start a thread, return), do not call dlopen, and do not
// assume the program's own static constructors have run.
#pragma once

extern "C" {

__attribute__((weak)) void syncscope_preload_start_extensions(void);

// The extension (or the program) may call this to request a heap-profile
// dump to the configured output path from the preload object's dumper
// thread, which it starts if it is not running yet (so it is not
// async-signal-safe; a signal handler sends SIGUSR2 instead). Returns 0, or
// -1 if the request could not be queued.
int syncscope_preload_request_dump(void);

}  // extern "C"
