// Stack of a thread blocked in a system call, taken without signalling it.
//
// Why: a signal makes poll, select, epoll_wait, nanosleep and the other
// calls the kernel never restarts return EINTR, whatever SA_RESTART says
// (issue 14 item 2). Most threads of a server sit in exactly such calls
// when a dump is taken, so the dump reads their stacks from outside.
//
// How: /proc/self/task/TID/syscall names the system call a blocked thread
// is in, with its user stack and instruction pointers. The stack is copied
// (process_vm_readv), then the syscall line and the thread's context-switch
// counts are read again: unchanged means the thread did not run while it
// was copied, so the copy is consistent. The copy is unwound like a
// signal-handler copy (prof::internal::unwind_stack_copy) with only sp and
// pc known.
//
// When not to use: the caller falls back to signalling when this returns
// false (the thread ran, is not in a system call, or the unwind found fewer
// than two frames, as when a frame pointer held in a register would be
// needed). x86-64 only, where every call leaves its return address on the
// stack; elsewhere it always returns false.
#pragma once

#include <sys/types.h>

#include <cstddef>

#include "prof/captured_stack.h"

namespace syncscope::task::internal {

// True when `tid` stayed blocked in one system call while its stack was
// copied into `buffer`; `copy` then describes it.
bool capture_blocked_thread(pid_t tid, prof::internal::StackCopy* copy, unsigned char* buffer,
                            std::size_t capacity);

}  // namespace syncscope::task::internal
