// ThreadSanitizer suppressions for the task tests.
//
// libunwind (used by prof's stack capture, and here from the thread-dump
// signal handler) is not TSan-instrumented. Its lazily initialised global
// caches are set up under its own lock with signals masked, then read on a
// double-checked path; TSan sees the unlocked reads through the sigprocmask /
// mutex / memset interceptors and reports races inside libunwind.so. They
// are libunwind's design, not races in syncscope, so interceptor calls made
// from that library are not checked.
#if defined(SYNCSCOPE_TSAN)
extern "C" const char* __tsan_default_suppressions() {
  return "called_from_lib:libunwind.so.8\n";
}
#endif
