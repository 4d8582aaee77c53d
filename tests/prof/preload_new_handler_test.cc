// A C++ program's out-of-memory contract under libsyncscope_preload.so: its
// std::set_new_handler reaches the preload's operator new, and the
// std::bad_alloc that operator throws is the program's own (caught by its
// catch clauses, freed by its runtime). The preload's hooks reach the
// program's libstdc++ at run time (src/prof/hooks/program_cxx_runtime.h), so
// these are checked against the same program run without the preload, the
// oracle, in subprocesses with a deadline.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/child_process.h"
#include "support/scratch_dir.h"

namespace {

using ::syncscope::test_support::CommandResult;
using ::syncscope::test_support::run_shell;
using ::syncscope::test_support::ScratchDir;

// Each case prints one line. kHuge is more than any address space gives
// (glibc's malloc returns null at once); the last two cases cap the address
// space (RLIMIT_AS) so that a 96 MiB request fails until the new-handler
// frees a 128 MiB reserve.
constexpr const char* kProgram = R"CXX(
#include <sys/resource.h>
#include <cstdio>
#include <cstdlib>
#include <new>
constexpr std::size_t kHuge = std::size_t{1} << 46;
constexpr std::size_t kMiB = std::size_t{1} << 20;
int calls = 0;
void* reserve = nullptr;
void give_up_on_third() { if (++calls == 3) std::set_new_handler(nullptr); }
void throw_own() { ++calls; throw std::bad_alloc(); }
void free_reserve() { ++calls; std::free(reserve); reserve = nullptr; std::set_new_handler(nullptr); }
void report(const char* what, const void* p) {
  std::printf("%s: %s, %d handler calls\n", what, p != nullptr ? "block" : "null", calls);
  calls = 0;
}
int main() {
  std::set_new_handler(give_up_on_third);
  try { report("new, handler gives up: unexpected", new char[kHuge]); }
  catch (const std::bad_alloc& e) { report("new, handler gives up: caught bad_alloc", nullptr); }
  try { report("aligned new, no handler: unexpected", new (std::align_val_t{64}) char[kHuge]); }
  catch (const std::bad_alloc&) { report("aligned new, no handler: caught bad_alloc", nullptr); }
  std::set_new_handler(throw_own);
  report("nothrow new, throwing handler", new (std::nothrow) char[kHuge]);
  std::set_new_handler(throw_own);
  report("aligned nothrow new, throwing handler", new (std::align_val_t{64}, std::nothrow) char[kHuge]);
  std::set_new_handler(nullptr);
  report("nothrow new, no handler", new (std::nothrow) char[kHuge]);
  // Address space now in use, plus 192 MiB; 128 of them reserved.
  long pages = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) { (void)std::fscanf(f, "%ld", &pages); std::fclose(f); }
  const rlim_t cap = static_cast<rlim_t>(pages) * 4096 + 192 * kMiB;
  struct rlimit lim = {cap, cap};
  if (setrlimit(RLIMIT_AS, &lim) != 0) return 2;
  reserve = std::malloc(128 * kMiB);
  std::set_new_handler(free_reserve);
  char* p = new char[96 * kMiB];
  p[0] = 1;
  report("new under RLIMIT_AS, handler frees", p);
  delete[] p;
  reserve = std::malloc(128 * kMiB);
  std::set_new_handler(free_reserve);
  char* q = new (std::nothrow) char[96 * kMiB];
  report("nothrow new under RLIMIT_AS, handler frees", q);
  delete[] q;
  return 0;
}
)CXX";

constexpr const char* kExpected =
    "new, handler gives up: caught bad_alloc: null, 3 handler calls\n"
    "aligned new, no handler: caught bad_alloc: null, 0 handler calls\n"
    "nothrow new, throwing handler: null, 1 handler calls\n"
    "aligned nothrow new, throwing handler: null, 1 handler calls\n"
    "nothrow new, no handler: null, 0 handler calls\n"
    "new under RLIMIT_AS, handler frees: block, 1 handler calls\n"
    "nothrow new under RLIMIT_AS, handler frees: block, 1 handler calls\n";

// Set by tests/prof/CMakeLists.txt to the built libsyncscope_preload.so.
std::string preload_path() { return SYNCSCOPE_PRELOAD_PATH; }

class PreloadNewHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(preload_path())) << preload_path();
    std::ofstream(dir_.file("prog.cc")) << kProgram;
    const CommandResult built = run_shell("c++ -std=c++17 -O1 -o '" + dir_.file("prog") + "' '" +
                                          dir_.file("prog.cc") + "'");
    ASSERT_EQ(built.exit_code, 0) << built.out << built.err;
  }
  // The program's output, run with `env` (variable assignments) before it.
  CommandResult run(const std::string& env) const {
    return run_shell(env + " '" + dir_.file("prog") + "'", std::chrono::seconds(30));
  }
  // The program under the preload object, with `env` besides: its lines are
  // those of the program alone, and the oracle's.
  void expect_same_as_without_preload(const std::string& env) const {
    const CommandResult plain = run("");
    const CommandResult preloaded =
        run("LD_PRELOAD='" + preload_path() + "' SYNCSCOPE_PROFILE_OUT='" + dir_.file("heap.pb.gz") + "' " + env);
    ASSERT_EQ(preloaded.exit_code, 0) << preloaded.err;
    EXPECT_EQ(preloaded.out, plain.out);
    EXPECT_EQ(preloaded.out, kExpected);
  }
  ScratchDir dir_;
};

TEST_F(PreloadNewHandlerTest, WithoutPreload_OracleGivesTheExpectedLines) {
  const CommandResult plain = run("");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out, kExpected);
}

// Default rate: every failing request is larger than the countdown (mean
// 512 KiB), so each takes the sampling path.
TEST_F(PreloadNewHandlerTest, DefaultRate_SameAsWithoutPreload) { expect_same_as_without_preload(""); }

// The largest rate (1 TiB): the countdown (exponential, mean 1 TiB) outlasts
// the 96 MiB requests, which fail on the hooks' fast path (glibc returns
// null after the countdown was charged) and go to the new-handler from
// there; the 64 TiB requests still take the slow path.
TEST_F(PreloadNewHandlerTest, LargestRate_FastPathFailures_SameAsWithoutPreload) {
  expect_same_as_without_preload("SYNCSCOPE_PROFILE_RATE=1099511627776");
}

// Every request sampled: the failing requests take the recording slow path,
// and the blocks the handler's retries return are recorded.
TEST_F(PreloadNewHandlerTest, EveryRequestSampled_SameAsWithoutPreload) {
  expect_same_as_without_preload("SYNCSCOPE_PROFILE_RATE=1");
  EXPECT_TRUE(std::filesystem::exists(dir_.file("heap.pb.gz")));
}

}  // namespace
