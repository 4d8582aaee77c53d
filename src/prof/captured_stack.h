// A thread's interrupted register state plus a bounded copy of the top of its
// stack, taken inside a signal handler and unwound later, outside it.
//
// Contract
//   capture_stack_copy(): async-signal-safe, allocation-free, touches no lock
//   and never calls into the dynamic loader. It copies the unwind registers
//   from the handler's ucontext_t and up to `capacity` bytes of the stack from
//   just below the interrupted stack pointer upwards, with process_vm_readv
//   so that the end of the stack mapping stops the copy instead of faulting.
//   unwind_stack_copy(): runs in an ordinary thread (it may allocate through
//   libunwind), never from a signal handler. It unwinds with libunwind's
//   remote interface: stack words come from the copy, code and unwind tables
//   from the live modules located with glibc's lock-free _dl_find_object, so
//   it neither takes the loader lock nor calls dl_iterate_phdr.
//
// Why: libunwind's local unwinder calls dl_iterate_phdr (the loader lock) to
// find unwind tables. A handler that unwinds in a thread interrupted while it
// held that lock, or while another thread holds it, blocks (issue 13 item 5).
//
// Implementation notes
//   copy:   [sp - kRedZone, sp - kRedZone + copied)   copied <= capacity
//   reads:  address inside the copy      -> the copy
//           address inside a live module -> the module (read with
//                                           process_vm_readv, page cache)
//           anything else                -> error: the unwind ends there
//   A frame whose caller lies beyond the copied bytes ends the unwind early;
//   the frames found so far are kept.
//
// When not to use: for the calling thread's own stack in a normal context
// prof::capture_stack is faster (libunwind's caches); use this only where the
// loader lock may be held by someone else, or inside a signal handler.
#pragma once

#include <ucontext.h>

#include <cstddef>
#include <cstdint>

namespace syncscope::prof::internal {

// Bytes of stack copied per thread: ~64 frames of ordinary code.
inline constexpr std::size_t kStackCopyBytes = 32 * 1024;

#if defined(__x86_64__)
inline constexpr int kUnwindRegs = 17;  // DWARF numbering: rax..r15, rip
#elif defined(__aarch64__)
inline constexpr int kUnwindRegs = 33;  // x0..x30, sp, pc
#else
#error "prof: captured stacks are implemented for x86_64 and aarch64"
#endif

struct StackCopy {
  // Registers in libunwind's numbering for this architecture.
  std::uintptr_t regs[kUnwindRegs];
  std::uintptr_t pc = 0;
  std::uintptr_t sp = 0;
  std::uintptr_t begin = 0;    // address the first copied byte came from
  std::uint32_t size = 0;      // bytes copied into the caller's buffer
  bool valid = false;          // registers were captured
};

// In a signal handler: fills `out` from `context` and copies stack bytes into
// `buffer[0, capacity)`. Async-signal-safe; saves and restores errno.
void capture_stack_copy(const ucontext_t* context, StackCopy* out, unsigned char* buffer,
                        std::size_t capacity) noexcept;

// The same for the calling thread, from here (for a thread that must not
// take the loader lock to capture itself). Not for signal handlers.
void capture_own_stack_copy(StackCopy* out, unsigned char* buffer, std::size_t capacity) noexcept;

// For a thread of this process that is not running (blocked in a system
// call): a copy from the stack and instruction pointers the kernel reports
// for it, the other registers unknown (zero). Frames whose canonical frame
// address depends on an unknown register end the unwind. Needs
// process_vm_readv (returns false without it). Not for signal handlers.
bool copy_stack_of_blocked_thread(std::uintptr_t sp, std::uintptr_t pc, StackCopy* out,
                                  unsigned char* buffer, std::size_t capacity) noexcept;

// What an unwind needs besides the copy (libunwind's address space, a page
// cache), set up once. create_stack_unwinder() allocates (call it where that
// is fine); unwinding with the result allocates nothing, so it may run while
// the allocator is frozen. One user at a time; never destroyed.
// cache_unwind_info: keep libunwind's per-address register-rule cache
// across unwinds (UNW_CACHE_GLOBAL: preallocated, no malloc) -- about a
// third less unwinding time for a sampler that unwinds the same code over
// and over. Cached rules go stale if a library is unloaded and another
// mapped at its address: flush_unwind_cache() before each batch of unwinds.
struct StackUnwinder;
StackUnwinder* create_stack_unwinder(bool cache_unwind_info = false) noexcept;
void flush_unwind_cache(StackUnwinder* unwinder) noexcept;

// Frames of a captured stack, innermost first: pc[0] is the interrupted pc.
// `sp` may be null. Returns the number written (0 when nothing was captured).
// With `unwinder` null a private one is created and freed (allocates).
// Not async-signal-safe; thread-safe when each thread has its own unwinder.
int unwind_stack_copy(const StackCopy& copy, const unsigned char* buffer, std::uintptr_t* pc,
                      std::uintptr_t* sp, int max_frames, StackUnwinder* unwinder = nullptr) noexcept;

}  // namespace syncscope::prof::internal
