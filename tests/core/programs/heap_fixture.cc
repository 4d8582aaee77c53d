// A program with a known heap, for syncscope-core's tests: the test starts
// it, waits for "ready", takes a core of it with gcore, and compares what
// syncscope-core reads from the core with the oracle this program wrote.
//
//   heap_fixture ORACLE_FILE            the fixture heap (below)
//   heap_fixture ORACLE_FILE bench N    N blocks of 256 bytes held from a global
//   heap_fixture ORACLE_FILE grow N     the fixture heap plus N more Sessions
//
// The fixture heap:
//   - g_session_list -> Session -> Session -> ... (kSessions, polymorphic),
//     a leak held from a global;
//   - three LeakedRecords that a thread (in its own arena) allocated and
//     dropped before it exited: unreachable;
//   - a thread "holder" whose stack holds a StackHeld (its arena) that holds
//     a 1000-byte buffer: a chain through a thread's stack;
//   - g_big: a 256 KiB block (an mmapped chunk);
//   - g_prefixed: four blocks of 6000 bytes sampled behind a prefix
//     (prof/sampled_prefix.h), the last 4 KiB-aligned.
//
// The heap profiler samples every allocation (rate 1, which gives no
// prefix), so the core also holds the sampled blocks and their stacks;
// at 4 KiB for g_prefixed's blocks.
//
// The oracle (exact mode, on from the first constructor): line "tracked A S"
// per live block the hooks recorded (address, requested size, usable size),
// "prefixed A S U" again for each of g_prefixed's,
// and "pre A S U" per block that existed before exact mode went on (glibc's and
// libstdc++'s start-up allocations, listed by an in-process heap walk at
// that moment): the only blocks a correct core walk may add to the tracked
// ones, apart from each thread's tcache_perthread_struct (glibc allocates
// it internally, past the hooks). Written with write(2) from the frozen
// table's own memory: taking the oracle allocates nothing.
#include <fcntl.h>
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "prof/sampled_prefix.h"
#include "retain/glibc_heap_walker.h"
#include "retain/live_heap_source.h"
#include "retain/memory_image.h"
#include "syncscope/prof/heap_profiler.h"
#include "syncscope/prof/live_blocks.h"

namespace fixture {

struct Base {
  virtual ~Base() = default;
  virtual int id() const = 0;
};
struct Session final : Base {
  int id() const override { return 7; }
  Session* next = nullptr;
  char payload[88] = {};
};
struct LeakedRecord final : Base {
  int id() const override { return 11; }
  char payload[184] = {};
};
struct StackHeld final : Base {
  int id() const override { return 9; }
  char* buffer = nullptr;
};

constexpr int kSessions = 5;

}  // namespace fixture

// Globals named by symbol in the reports (extern "C"-free, plain names).
fixture::Session* g_session_list = nullptr;
void* g_big = nullptr;
std::uintptr_t* g_bench_blocks = nullptr;  // bench mode: N pointers
constexpr std::size_t kPrefixedBytes = 6000;
void* g_prefixed[4] = {};  // sampled blocks behind a prefix (prof/sampled_prefix.h), the last one 4 KiB-aligned

namespace {

using syncscope::retain::GraphBlock;
using syncscope::retain::internal::MmapBuffer;

MmapBuffer<GraphBlock> g_pre;  // blocks live before exact mode (mmap'ed, not a heap block)
int g_pipe[2] = {-1, -1};      // the holder thread waits on it

// Priority 102: after the profiler's own start-up constructors (101: the
// unwinder's binding allocates in the loader), whose blocks are then among
// the pre-existing ones the walk below lists.
__attribute__((constructor(102))) void start_exact_mode() {
  syncscope::prof::HeapProfiler::set_exact_mode(true);
  // Every allocation sampled: the core holds the profiler's tables, and
  // syncscope-core names the sampled blocks by allocation site.
  syncscope::prof::HeapProfiler::set_sample_rate(1);
  syncscope::prof::HeapProfiler::start();
  syncscope::retain::internal::HeapWalkPrep prep;
  if (!syncscope::retain::internal::prepare_heap_walk(prep).ok()) return;
  MmapBuffer<char> text;
  MmapBuffer<syncscope::retain::internal::Mapping> maps;
  if (!syncscope::retain::internal::read_proc_maps(text, maps)) return;
  const syncscope::retain::internal::LiveMemoryImage image(maps);
  syncscope::retain::internal::GlibcHeapWalker walker;
  walker.walk(image, {prep.libc_data.data(), prep.libc_data.size()}, {}, g_pre);
}

// "<tag> <address hex> <requested size> <usable size>": malloc_usable_size
// is the size a walk must report.
void put(int fd, const char* tag, std::uintptr_t a, std::uint64_t s) {
  char line[128];
  const std::size_t usable = malloc_usable_size(reinterpret_cast<void*>(a));
  const int n = std::snprintf(line, sizeof line, "%s %lx %lu %lu\n", tag, static_cast<unsigned long>(a),
                              static_cast<unsigned long>(s), static_cast<unsigned long>(usable));
  if (::write(fd, line, static_cast<std::size_t>(n)) != n) std::_Exit(3);
}

void write_oracle(const char* path) {
  const int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) std::_Exit(4);
  for (const GraphBlock& b : g_pre) put(fd, "pre", b.address, b.size);
  auto& table = syncscope::prof::LiveBlockTable::instance();
  if (!table.freeze()) std::_Exit(5);
  for (const auto& b : table.sorted_blocks()) put(fd, "tracked", b.address, b.size);
  table.thaw();
  for (void* p : g_prefixed) put(fd, "prefixed", reinterpret_cast<std::uintptr_t>(p), kPrefixedBytes);
  ::close(fd);
}

// Sampled blocks behind a prefix: the profiler samples at 4 KiB for them
// (a prefix needs a rate of 4 KiB or more), and a request that was not
// sampled is freed and made again, until each is. Back at rate 1 after.
void allocate_prefixed() {
  syncscope::prof::HeapProfiler::set_sample_rate(4096);
  for (std::size_t i = 0; i < std::size(g_prefixed); ++i) {
    for (int attempt = 0; attempt < 1000 && g_prefixed[i] == nullptr; ++attempt) {
      void* p = i + 1 < std::size(g_prefixed) ? std::malloc(kPrefixedBytes) : aligned_alloc(4096, kPrefixedBytes);
      // The word before the block: hide its provenance from the optimiser.
      std::uintptr_t word = reinterpret_cast<std::uintptr_t>(p) - sizeof(std::size_t);
      asm volatile("" : "+r"(word));
      if (syncscope::prof::internal::is_sampled_tag(*reinterpret_cast<const std::size_t*>(word))) {
        std::memset(p, 3, kPrefixedBytes);
        g_prefixed[i] = p;
      } else {
        std::free(p);
      }
    }
    if (g_prefixed[i] == nullptr) std::_Exit(6);
  }
  syncscope::prof::HeapProfiler::set_sample_rate(1);
}

__attribute__((noinline)) void leak_records() {
  // In a thread of its own: its arena, and a stack that is gone afterwards.
  std::thread([] {
    fixture::LeakedRecord* r[3];
    for (auto*& p : r) p = new fixture::LeakedRecord();
    for (auto*& p : r) {
      asm volatile("" : : "r"(p) : "memory");  // allocated for real, then dropped
      p = nullptr;
    }
  }).join();
}

__attribute__((noinline)) void hold_on_stack(std::atomic<bool>* ready) {
  fixture::StackHeld* volatile held = new fixture::StackHeld();
  held->buffer = new char[1000];
  std::memset(held->buffer, 1, 1000);
  ready->store(true, std::memory_order_release);  // release: publishes `held`; pairs with the main loop's acquire
  char c;
  while (::read(g_pipe[0], &c, 1) < 0) {
  }
  asm volatile("" : : "r"(held) : "memory");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const std::string mode = argc >= 3 ? argv[2] : "";
  const long n = argc >= 4 ? std::strtol(argv[3], nullptr, 10) : 0;
  if (::pipe(g_pipe) != 0) return 2;
  if (mode == "bench") {
    g_bench_blocks = static_cast<std::uintptr_t*>(std::calloc(static_cast<std::size_t>(n), sizeof(std::uintptr_t)));
    for (long i = 0; i < n; ++i) g_bench_blocks[i] = reinterpret_cast<std::uintptr_t>(std::malloc(256));
  } else {
    for (int i = 0; i < fixture::kSessions + (mode == "grow" ? static_cast<int>(n) : 0); ++i) {
      auto* s = new fixture::Session();
      s->next = g_session_list;
      g_session_list = s;
    }
    g_big = std::malloc(256 * 1024);
    std::memset(g_big, 2, 256 * 1024);
    leak_records();
    allocate_prefixed();
  }
  std::atomic<bool> ready{false};
  std::thread holder(hold_on_stack, &ready);
  // acquire: pairs with the holder's release; the chain is built before the oracle.
  while (!ready.load(std::memory_order_acquire)) std::this_thread::yield();
  write_oracle(argv[1]);
  static const char kReady[] = "ready\n";
  if (::write(STDOUT_FILENO, kReady, sizeof kReady - 1) < 0) return 3;
  char c;
  while (::read(STDIN_FILENO, &c, 1) < 0) {  // the test closes stdin when done
  }
  if (::write(g_pipe[1], "x", 1) < 0) return 3;
  holder.join();
  return 0;
}
