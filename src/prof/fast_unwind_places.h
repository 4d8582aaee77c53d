// Which threads may use libunwind's fast backtrace (unw_backtrace).
//
// unw_backtrace keeps a frame cache per thread: 2^14 entries of 16 bytes,
// mmapped and written in full at the thread's first call, freed when the
// thread exits. That is 256 KiB resident in every thread that ever captures
// a stack: 16 threads taking 64 samples each grew RssAnon by 4.7 MiB, where
// the profiler's budget (issue 16, item 4) is 2 MiB plus 100 bytes per
// sampled live block, for any number of threads. Without the cache a
// capture of 52 frames takes 2.0 µs with libgcc's unwinder (the LD_PRELOAD
// object's) and 15.9 µs stepping with libunwind (the library's), against
// 0.10 µs from the cache (2-core VM; prof_heap_benchmark's CaptureWalks).
//
// So at most kFastUnwindPlaces threads at a time hold a place and use the
// cache; the others walk without one. A thread asks for a place at its
// kCapturesBeforeFastUnwind-th capture (a thread that samples once at start-up
// takes none; the first threads that keep sampling take them), holds it
// until it exits (a pthread-key destructor gives it back, as libunwind's own
// destructor frees the cache), and a fork child counts only the forking
// thread's place. The bound: kFastUnwindPlaces × 256 KiB of caches.
//
// Allocation-free except for pthread_setspecific when a thread takes a
// place (glibc allocates for keys past its first 32; the heap recorder
// captures with its hook depth raised, so that allocation is not recorded).
#pragma once

namespace syncscope::prof::internal {

inline constexpr int kFastUnwindPlaces = 4;
inline constexpr unsigned kCapturesBeforeFastUnwind = 4;

// Called once per capture by the calling thread: whether it holds (or now
// takes) a place. Counts the thread's captures until it holds one.
bool may_unwind_fast() noexcept;

// Places held now, by live threads (for tests and the bound above).
int fast_unwind_places_taken() noexcept;

}  // namespace syncscope::prof::internal
