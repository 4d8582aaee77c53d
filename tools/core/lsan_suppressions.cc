// LeakSanitizer suppressions for syncscope-core and its tests (ASan build).
//
// elfutils' core-file thread callbacks (dwfl_core_file_attach, 0.188)
// allocate a small per-thread argument in their next-thread step and have no
// thread-detach callback to free it, so every thread unwound through
// dwfl_getthread_frames leaves 16 bytes behind inside libdw. That is the
// library's leak, not ours: leaks whose allocation comes from libdw are not
// reported.
#if defined(SYNCSCOPE_ASAN)
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libdw.so.1\n";
}
#endif
