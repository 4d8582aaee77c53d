// Out of memory in the LD_PRELOAD object's own dump (issue 16, item 1): the
// core object is built without exceptions, so a failed allocation of the
// dump returns to the dump's recovery point (src/prof/oom_recovery.h); the
// profile is not written, one line says so, and the program exits as it
// would have. A C++ program with sampled blocks arms the profiler's fault
// injection (every allocation of its main thread after the first `skip`
// fails) and returns; the exit dump then runs on that thread. `skip` is
// swept from 0 (the dump's first allocation fails) up to a value past the
// dump's last allocation, where the profile is written: the oracle that the
// same run without failures writes it. Each run is a subprocess with a
// deadline (a jump that left a lock held would hang it).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/child_process.h"
#include "support/scratch_dir.h"

namespace {

using ::syncscope::test_support::CommandResult;
using ::syncscope::test_support::run_shell;
using ::syncscope::test_support::ScratchDir;

// argv: skip, the profile's path, "cold" or "warm". "warm" first has the
// preload's dumper write a profile (which loads the symbolized writer when
// SYNCSCOPE_PROFILE_SYMBOLIZE=1), waits for it (bounded) and removes it, so
// that the failures fall in the exit dump's own work.
constexpr const char* kProgram = R"CXX(
#include <dlfcn.h>
#include <time.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include "syncscope/prof/fault_injection.h"
namespace fi = syncscope::prof::fault_injection;
int main(int argc, char** argv) {
  if (argc != 4) return 2;
  std::vector<std::string*> keep;  // sampled at rate 1: stacks for the dump
  for (int i = 0; i < 300; ++i) keep.push_back(new std::string(100 + i, 'x'));
  if (std::strcmp(argv[3], "warm") == 0) {
    auto request = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "syncscope_preload_request_dump"));
    if (request == nullptr || request() != 0) return 3;
    for (int i = 0; access(argv[2], F_OK) != 0; ++i) {
      if (i == 10000) return 4;  // 10 s
      const timespec ms{0, 1000000};
      nanosleep(&ms, nullptr);
    }
    if (unlink(argv[2]) != 0) return 5;
  }
  using ArmFn = bool (*)(const fi::FaultPlan&);
  auto arm = reinterpret_cast<ArmFn>(
      dlsym(RTLD_DEFAULT, "_ZN9syncscope4prof15fault_injection3armERKNS1_9FaultPlanE"));
  if (arm == nullptr) return 6;
  fi::FaultPlan plan;  // this thread only: the exit dump runs on it
  plan.skip = std::strtoull(argv[1], nullptr, 10);
  plan.failures = fi::kUnlimited;
  if (!arm(plan)) return 7;
  return 0;
}
)CXX";

constexpr const char* kDropped = "syncscope: heap profile (exit) not written: ";

std::string preload_path() { return SYNCSCOPE_PRELOAD_PATH; }

class PreloadDumpOutOfMemory : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(preload_path())) << preload_path();
    std::ofstream(dir_.file("prog.cc")) << kProgram;
    const CommandResult built = run_shell("c++ -std=c++17 -O1 -I'" SYNCSCOPE_INCLUDE_DIR "' -o '" +
                                          dir_.file("prog") + "' '" + dir_.file("prog.cc") + "' -ldl");
    ASSERT_EQ(built.exit_code, 0) << built.out << built.err;
    std::filesystem::create_directory(out_dir());
  }
  std::filesystem::path out_dir() const { return dir_.path() / "out"; }
  std::string profile() const { return (out_dir() / "heap.pb.gz").string(); }

  struct Outcome {
    bool written = false;
    std::string err;
  };
  // One run with failures from the `skip`+1st allocation on; checks what
  // holds for every run (normal exit, profile written or one line saying it
  // was not, no temporary file left behind).
  Outcome run(std::uint64_t skip, const std::string& env, const char* mode) {
    std::filesystem::remove(profile());
    const CommandResult r = run_shell("LD_PRELOAD='" + preload_path() + "' SYNCSCOPE_PROFILE_RATE=1 " + env +
                                          " SYNCSCOPE_PROFILE_OUT='" + profile() + "' '" + dir_.file("prog") +
                                          "' " + std::to_string(skip) + " '" + profile() + "' " + mode,
                                      std::chrono::seconds(30));
    Outcome o;
    EXPECT_FALSE(r.timed_out) << "skip " << skip;
    EXPECT_EQ(r.exit_code, 0) << "skip " << skip << ": " << r.err;
    o.written = std::filesystem::exists(profile());
    o.err = r.err;
    const bool dropped = r.err.find(kDropped) != std::string::npos;
    EXPECT_NE(o.written, dropped) << "skip " << skip << ": " << r.err;
    for (const auto& entry : std::filesystem::directory_iterator(out_dir())) {
      EXPECT_EQ(entry.path().filename(), "heap.pb.gz") << "skip " << skip << ": left behind";
    }
    return o;
  }
  ScratchDir dir_;
};

bool gzip_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char b[2] = {};
  return in.read(b, 2) && static_cast<unsigned char>(b[0]) == 0x1f && static_cast<unsigned char>(b[1]) == 0x8b;
}

// The default dump (addresses, written by the core object): every failure
// point from the dump's first allocation on, one by one, then doubling.
TEST_F(PreloadDumpOutOfMemory, AddressDump_DroppedWithOneLine_ProgramExitsNormally) {
  int recovered = 0;
  std::uint64_t skip = 0;
  Outcome o;
  for (; skip < (std::uint64_t{1} << 20); skip = skip < 64 ? skip + 1 : skip * 2) {
    o = run(skip, "", "cold");
    if (testing::Test::HasFailure() || o.written) break;
    // The recovery point's outcome; other lines are errors the core reports
    // as values (zlib, the temporary file), equally fine.
    if (o.err.find(std::string(kDropped) + "out of memory\n") != std::string::npos) ++recovered;
  }
  ASSERT_TRUE(o.written) << "no profile even with failures from allocation " << skip << ": " << o.err;
  EXPECT_TRUE(gzip_magic(profile()));
  EXPECT_GE(recovered, 20) << "the dump's allocations failed too rarely to test its recovery";
}

// The symbolized dump (SYNCSCOPE_PROFILE_SYMBOLIZE=1), with the writer
// already loaded: the extension, built with exceptions, catches what the
// core's functions it calls report, and the program goes on. (An
// out-of-memory inside the extension's first load, in its libraries' static
// initializers, is not recoverable: docs/prof.md.)
TEST_F(PreloadDumpOutOfMemory, SymbolizedDump_DroppedWithOneLine_ProgramExitsNormally) {
  int dropped = 0;
  std::uint64_t skip = 0;
  Outcome o;
  for (std::uint64_t a = 0, b = 1; skip < (std::uint64_t{1} << 22); skip = a + b, a = b, b = skip) {
    o = run(skip, "SYNCSCOPE_PROFILE_SYMBOLIZE=1", "warm");
    if (testing::Test::HasFailure() || o.written) break;
    ++dropped;
  }
  ASSERT_TRUE(o.written) << "no profile even with failures from allocation " << skip << ": " << o.err;
  EXPECT_TRUE(gzip_magic(profile()));
  EXPECT_GE(dropped, 5) << "the dump's allocations failed too rarely to test its recovery";
}

}  // namespace
