// A fork while the preload's dumper thread writes a profile: the child
// inherits the dump mutex locked, and no thread in the child will ever unlock
// it. The child's exit takes that mutex (to dump, or, when it recorded no
// sample, to stop later dumps), so without a fresh mutex in the child it
// would hang at exit: every `$(cmd)` of a profiled shell that happened to
// fork during an interval or SIGUSR2 dump.
//
// The program under test asks for a dump (SIGUSR2), forks at a varying
// delay, and the child looks, without allocating, for the parent's
// temporary profile file: present means the fork landed mid-write, with the
// dump mutex held. Children alternate between allocating (exit dump) and not
// (quiet exit). The parent waits for each child with a deadline and counts
// hangs. The test asserts that forks did land mid-write (so the race was
// exercised) and that no child hung.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "support/child_process.h"
#include "support/scratch_dir.h"

namespace {

using ::syncscope::test_support::run_command;
using ::syncscope::test_support::run_shell;
using ::syncscope::test_support::ScratchDir;

// argv[1]: the profile directory; argv[2]: rounds. Prints one line of counts.
constexpr const char* kForkWhileDumping = R"C(
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static void* keep[4096];
__attribute__((noinline)) static void alloc_at_depth(int depth, int i) {
  if (depth > 0) { alloc_at_depth(depth - 1, i); __asm__ volatile(""); return; }
  keep[i] = malloc(64 + i % 512);
}
/* Whether `dir` holds a temporary file of process `pid`'s dump (the writer
   names them PATH.tmp.PID.N), read with getdents64 into a stack buffer: the
   quiet children must not allocate. */
static int dump_in_progress(const char* dir, pid_t pid) {
  char needle[32];
  snprintf(needle, sizeof needle, ".tmp.%d.", (int)pid);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[8192];
  int found = 0;
  long n;
  while (!found && (n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
    for (long off = 0; off < n;) {
      unsigned short reclen = *(unsigned short*)(buf + off + 16);
      if (strstr(buf + off + 19, needle)) found = 1;
      off += reclen;
    }
  }
  close(fd);
  return found;
}
int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const int rounds = atoi(argv[2]);
  for (int i = 0; i < 4096; ++i) alloc_at_depth(i % 64, i);
  int done = 0, mid_write = 0, hung = 0, bad = 0;
  const pid_t self = getpid();
  for (int r = 0; r < rounds && hung < 2; ++r) {
    kill(self, SIGUSR2);  /* the preload's dumper thread starts a dump */
    struct timespec delay = {0, (r * 37 % 40) * 100000L};  /* 0 to 3.9 ms */
    nanosleep(&delay, NULL);
    pid_t child = fork();
    if (child < 0) return 3;
    if (child == 0) {
      int mid = dump_in_progress(argv[1], self);
      if (r % 2) {  /* a sample since the fork: the exit writes a profile */
        char* volatile p = malloc(1 << 20);
        memset(p, 1, 1 << 20);
      }
      exit(mid ? 10 : 0);
    }
    int status = 0, exited = 0;
    for (int ms = 0; ms < 10000 && !exited; ++ms) {  /* a 10 s deadline */
      if (waitpid(child, &status, WNOHANG) == child) exited = 1; else usleep(1000);
    }
    if (!exited) { kill(child, SIGKILL); waitpid(child, &status, 0); ++hung; continue; }
    ++done;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 10) ++mid_write;
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++bad;
  }
  printf("done=%d mid_write=%d hung=%d bad=%d\n", done, mid_write, hung, bad);
  return 0;
}
)C";

TEST(PreloadForkDuringDump, ChildrenForkedMidDump_ExitWithoutHanging) {
  ScratchDir dir;
  std::ofstream(dir.file("fork_dump.c")) << kForkWhileDumping;
  int status = 0;
  const std::string compiled =
      run_shell("cc -O1 -o '" + dir.file("fork_dump") + "' '" + dir.file("fork_dump.c") + "'", &status);
  ASSERT_EQ(status, 0) << compiled;
  const std::string out_dir = dir.file("profiles");
  std::filesystem::create_directory(out_dir);
  constexpr int kRounds = 80;
  // Every allocation sampled: the dump is long enough to be forked in.
  const auto result = run_command({dir.file("fork_dump"), out_dir, std::to_string(kRounds)},
                                  {{"LD_PRELOAD", SYNCSCOPE_PRELOAD_PATH},
                                   {"SYNCSCOPE_PROFILE_RATE", "1"},
                                   {"SYNCSCOPE_PROFILE_OUT", out_dir + "/heap.%p.pb.gz"}},
                                  std::chrono::seconds(120));
  ASSERT_FALSE(result.timed_out) << result.out << result.err;
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(result.out, m, std::regex(R"(done=(\d+) mid_write=(\d+) hung=(\d+) bad=(\d+))")))
      << result.out;
  const int done = std::stoi(m[1]), mid_write = std::stoi(m[2]), hung = std::stoi(m[3]), bad = std::stoi(m[4]);
  EXPECT_EQ(hung, 0) << "children still running 10 s after their exit began: " << result.out;
  EXPECT_EQ(bad, 0) << result.out << result.err;
  EXPECT_EQ(done, kRounds) << result.out;
  // The race was exercised: some forks landed while the parent's dump held
  // the mutex (its temporary file existed).
  EXPECT_GE(mid_write, 1) << result.out;
}

}  // namespace
