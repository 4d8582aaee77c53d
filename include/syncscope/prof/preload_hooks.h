// Extension point of the LD_PRELOAD object (libsyncscope_preload.so).
//
// The preload object configures the heap profiler from the environment
// (SYNCSCOPE_PROFILE_RATE, SYNCSCOPE_PROFILE_OUT, SYNCSCOPE_PROFILE_INTERVAL_S;
// see docs/prof.md) in a constructor that runs before the program's own.
// After the profiler is running it calls syncscope_preload_start_extensions()
// once, if any loaded object defines it. The symbol is weak, so the preload
// object works without it. The debug server (SYNCSCOPE_HTTP) plugs in here:
// define the function in a source added to the syncscope_preload target, read
// SYNCSCOPE_HTTP there and start the server thread.
//
// The function runs on the main thread during dynamic-loader initialization:
// keep it short (start a thread, return), do not call dlopen, and do not
// assume the program's own static constructors have run.
#pragma once

extern "C" {

__attribute__((weak)) void syncscope_preload_start_extensions(void);

// The extension may call this to request a heap-profile dump to the
// configured output path from the preload object's dumper thread (async-
// signal-safe: it only writes to a pipe). Returns 0, or -1 if the dumper
// thread is not running.
int syncscope_preload_request_dump(void);

}  // extern "C"
