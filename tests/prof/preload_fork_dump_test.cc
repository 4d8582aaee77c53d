// A fork while the preload's dumper thread writes a profile: the child
// inherits the dump mutex locked, and no thread in the child will ever unlock
// it. The child's exit takes that mutex (to dump, or, when it recorded no
// sample, to stop later dumps), so without a fresh mutex in the child it
// would hang at exit: every `$(cmd)` of a profiled shell that happened to
// fork during an interval or SIGUSR2 dump. The same test found a second
// hang: the dumper walks the loaded modules, and glibc does not reset the
// loader's module-list lock in a child forked during that walk, so the
// child hung at its first stack capture (1 in 80 forks). A fork now waits,
// bounded, for a dump under way.
//
// The program under test asks for a dump (SIGUSR2) and forks as soon as the
// preload's dumper thread is running (state R in /proc: out of its poll(),
// dumping with the mutex held). Children alternate between allocating (exit
// dump) and not (quiet exit). The parent waits for each child with a deadline and counts
// hangs. The test asserts that most forks were made while the dumper ran
// (so the race was exercised) and that no child hung.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "support/child_process.h"
#include "support/scratch_dir.h"
#include "support/text_match.h"

namespace {

using ::syncscope::test_support::run_command;
using ::syncscope::test_support::run_shell;
using ::syncscope::test_support::ScratchDir;
using ::syncscope::test_support::search;
using ::syncscope::test_support::TextMatch;

// argv[1]: rounds. Prints one line of counts.
constexpr const char* kForkWhileDumping = R"C(
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
/* External linkage, and volatile below: GCC drops a malloc whose result
   nothing reads (a static array only written, a malloc freed at once). */
void* keep[4096];
__attribute__((noinline)) static void alloc_at_depth(int depth, int i) {
  if (depth > 0) { alloc_at_depth(depth - 1, i); __asm__ volatile(""); return; }
  keep[i] = malloc(64 + i % 512);
}
/* The preload's dumper: the one thread of this program besides main. */
static pid_t dumper_thread(pid_t self) {
  pid_t found = 0;
  DIR* d = opendir("/proc/self/task");
  if (d == NULL) return 0;
  for (struct dirent* e; (e = readdir(d)) != NULL;) {
    const pid_t tid = (pid_t)atoi(e->d_name);
    if (tid > 0 && tid != self) found = tid;
  }
  closedir(d);
  return found;
}
/* Whether thread `tid` is running or runnable (state R): out of its poll(),
   that is dumping. */
static int running(pid_t self, pid_t tid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)self, (int)tid);
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  const char* p = strrchr(buf, ')');
  return p != NULL && p[1] == ' ' && p[2] == 'R';
}
int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const int rounds = atoi(argv[1]);
  for (int i = 0; i < 4096; ++i) alloc_at_depth(i % 64, i);
  const pid_t self = getpid();
  /* A single-threaded program has no dumper until a dump is asked for: the
     first sample after SIGUSR2 starts it (that first dump is not counted). */
  kill(self, SIGUSR2);
  { void* volatile sample = malloc(64); free(sample); }
  pid_t dumper = 0;
  for (int i = 0; i < 10000 && (dumper = dumper_thread(self)) == 0; ++i) usleep(1000);
  if (dumper == 0) { printf("no dumper thread\n"); return 4; }
  for (int i = 0; i < 20000 && running(self, dumper); ++i) sched_yield();
  int done = 0, while_dumping = 0, hung = 0, bad = 0;
  for (int r = 0; r < rounds && hung < 2; ++r) {
    kill(self, SIGUSR2);  /* wakes the dumper, which dumps under its mutex */
    /* Forks once the dumper runs (at most 20,000 looks): on a loaded
       machine too the fork lands mid-dump. */
    int dumping = 0;
    for (int i = 0; i < 20000 && !(dumping = running(self, dumper)); ++i) sched_yield();
    pid_t child = fork();
    if (child < 0) return 3;
    if (child == 0) {
      if (r % 2) {  /* a sample since the fork: the exit writes a profile */
        char* volatile p = malloc(1 << 20);
        memset(p, 1, 1 << 20);
      }
      exit(0);  /* the exit takes the dump mutex either way */
    }
    while_dumping += dumping;
    int status = 0, exited = 0;
    for (int ms = 0; ms < 10000 && !exited; ++ms) {  /* a 10 s deadline */
      if (waitpid(child, &status, WNOHANG) == child) exited = 1; else usleep(1000);
    }
    if (!exited) { kill(child, SIGKILL); waitpid(child, &status, 0); ++hung; continue; }
    ++done;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++bad;
    /* Lets the dump end before the next round asks for another. */
    for (int i = 0; i < 20000 && running(self, dumper); ++i) sched_yield();
  }
  printf("done=%d while_dumping=%d hung=%d bad=%d\n", done, while_dumping, hung, bad);
  return 0;
}
)C";

// argv[1]: forks. Two threads keep creating short-lived threads that each
// take a few samples (a new thread's first captures miss the unwinder's
// cache and walk the loaded modules) while main forks; each child takes a
// sample and exits. Prints the forks done, the children that hung, and how
// many sampling threads ran during the forks (the overlap).
constexpr const char* kForkWhileSampling = R"C(
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static atomic_int stop;
static atomic_long threads_run;
__attribute__((noinline)) static void* deep(int d) {
  if (d > 0) { void* p = deep(d - 1); __asm__ volatile(""); return p; }
  return malloc(64);
}
static void* short_life(void* arg) {
  (void)arg;
  for (int i = 0; i < 8; ++i) free(deep(i * 3));
  atomic_fetch_add(&threads_run, 1);
  return NULL;
}
static void* spawner(void* arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    pthread_t t;
    if (pthread_create(&t, NULL, short_life, NULL) == 0) pthread_join(t, NULL);
  }
  return NULL;
}
int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const int forks = atoi(argv[1]);
  pthread_t s1, s2;
  pthread_create(&s1, NULL, spawner, NULL);
  pthread_create(&s2, NULL, spawner, NULL);
  while (atomic_load(&threads_run) < 4) usleep(100);
  const long before = atomic_load(&threads_run);
  int done = 0, hung = 0;
  for (int r = 0; r < forks && hung < 2; ++r) {
    pid_t child = fork();
    if (child < 0) return 3;
    if (child == 0) { free(deep(5)); _exit(0); }
    int status = 0, exited = 0;
    for (int ms = 0; ms < 10000 && !exited; ++ms) {  /* a 10 s deadline */
      if (waitpid(child, &status, WNOHANG) == child) exited = 1; else usleep(1000);
    }
    if (!exited) { ++hung; kill(child, SIGKILL); waitpid(child, &status, 0); } else { ++done; }
  }
  const long during = atomic_load(&threads_run) - before;
  atomic_store(&stop, 1);
  pthread_join(s1, NULL);
  pthread_join(s2, NULL);
  printf("done=%d hung=%d sampling_threads=%ld\n", done, hung, during);
  return 0;
}
)C";

// Compiles `source` (a C program whose argv[1] is a number of forks and
// which prints one line of counts), runs it under the preload with every
// allocation sampled (rate 1: long dumps, many captures) and per-process
// profiles in `dir`, and returns the numbers of its `counts` line in order.
// Empty, with the failure reported, when it does not build, run or print.
std::vector<long> run_forking_program(const ScratchDir& dir, const char* source, int forks,
                                      const std::string& counts) {
  const std::string exe = dir.file("forking_program");
  std::ofstream(exe + ".c") << source;
  int status = 0;
  const std::string compiled = run_shell("cc -O1 -pthread -o '" + exe + "' '" + exe + ".c'", &status);
  if (status != 0) {
    ADD_FAILURE() << compiled;
    return {};
  }
  const auto result = run_command({exe, std::to_string(forks)},
                                  {{"LD_PRELOAD", SYNCSCOPE_PRELOAD_PATH},
                                   {"SYNCSCOPE_PROFILE_RATE", "1"},
                                   {"SYNCSCOPE_PROFILE_OUT", dir.file("heap.%p.pb.gz")}},
                                  std::chrono::seconds(120));
  std::optional<TextMatch> m;
  if (!result.timed_out && result.exit_code == 0) m = search(result.out, counts);
  if (!m.has_value()) {
    ADD_FAILURE() << "exit " << result.exit_code << (result.timed_out ? " (timed out)" : "") << ":\n"
                  << result.out << result.err;
    return {};
  }
  ::testing::Test::RecordProperty("counts", (*m)[0]);  // in the JUnit file
  std::printf("%s\n", (*m)[0].c_str());
  std::vector<long> numbers;
  for (std::size_t i = 1; i < m->size(); ++i) numbers.push_back(std::stol((*m)[i]));
  return numbers;
}

TEST(PreloadForkDuringDump, ChildrenForkedMidDump_ExitWithoutHanging) {
  ScratchDir dir;
  constexpr int kRounds = 80;
  const std::vector<long> n = run_forking_program(
      dir, kForkWhileDumping, kRounds, R"(done=(\d+) while_dumping=(\d+) hung=(\d+) bad=(\d+))");
  ASSERT_EQ(n.size(), 4u);
  const long done = n[0], while_dumping = n[1], hung = n[2], bad = n[3];
  EXPECT_EQ(hung, 0) << "children still running 10 s after their exit began";
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(done, kRounds);
  // The race was exercised: some forks landed while the dumper thread was
  // out of its poll(), dumping under the mutex.
  EXPECT_GE(while_dumping, kRounds / 4);
}

// A stack capture may walk the loaded modules, and glibc does not reset that
// walk's lock in a fork child: a child forked while another thread captured
// hung at its own first capture (1–2 children in 300 forks before the
// unwind gate, src/prof/unwind_gate.h). The gate makes a fork wait, bounded,
// for captures in flight.
TEST(PreloadForkDuringSampling, ChildrenForkedWhileThreadsSample_ExitWithoutHanging) {
  ScratchDir dir;
  constexpr int kForks = 600;
  const std::vector<long> n = run_forking_program(
      dir, kForkWhileSampling, kForks, R"(done=(\d+) hung=(\d+) sampling_threads=(\d+))");
  ASSERT_EQ(n.size(), 3u);
  const long done = n[0], hung = n[1], sampling_threads = n[2];
  EXPECT_EQ(hung, 0) << "children still running 10 s after they started";
  EXPECT_EQ(done, kForks);
  // The race was exercised: new threads sampled all through the forks.
  EXPECT_GE(sampling_threads, kForks / 10);
}

}  // namespace
