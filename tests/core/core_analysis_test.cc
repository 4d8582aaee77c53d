// syncscope-core on cores of tests/core/programs/heap_fixture.cc taken by
// gcore: the core's walked heap against the program's own exact-mode
// oracle, the roots (a global by symbol, a thread's stack), leaks, the
// retention profile read by `go tool pprof`, growth between two cores, and a
// module whose file is gone.
#include <elf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "core/core_fixture.h"
#include "retain/core_file.h"
#include "retain/core_memory_image.h"
#include "retain/core_snapshot.h"

namespace syncscope::core_test {
namespace {

using retain::internal::CoreFile;
using retain::internal::CoreMemoryImage;

constexpr std::uint64_t kTcacheStructUsable = 648;  // glibc 2.36: 640-byte tcache_perthread_struct

#define REQUIRE_CORE(f) ASSERT_FALSE((f).core.empty()) << (f).error

std::size_t count_lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

TEST(CoreFile, ThreadsMappedFilesAndAuxv_MatchTheProgram) {
  const FixtureCore& f = fixture_core();
  REQUIRE_CORE(f);
  auto core = CoreFile::open(f.core);
  ASSERT_TRUE(core.ok()) << core.status();
  const CoreFile& c = **core;
  // The main thread and the holder (the leaker thread was joined).
  ASSERT_EQ(c.threads().size(), 2u);
  EXPECT_EQ(c.threads()[0].tid, f.pid);  // gcore writes the main thread first
  const CoreMemoryImage image(c);
  for (const auto& t : c.threads()) {
    const auto* stack = image.region_of(t.sp());
    ASSERT_NE(stack, nullptr) << "tid " << t.tid;
    EXPECT_TRUE(stack->writable && stack->anonymous);
    EXPECT_NE(t.fs_base(), 0u);
  }
  // NT_FILE names the program; AT_PHDR lies in its first mapping.
  const auto& files = c.mapped_files();
  const auto exe = std::find_if(files.begin(), files.end(), [](const auto& m) {
    return m.path == fixture_program() && m.file_offset == 0;
  });
  ASSERT_NE(exe, files.end());
  EXPECT_GE(c.auxv(AT_PHDR), exe->start);
  EXPECT_LT(c.auxv(AT_PHDR), exe->start + (std::uintptr_t{1} << 20));
  // AT_EXECFN points at the program's path on the main stack: read through the image.
  const std::byte* name = image.view(c.auxv(AT_EXECFN), fixture_program().size() + 1);
  ASSERT_NE(name, nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(name)), fixture_program());
}

// The walk's blocks in a snapshot's graph, by address.
std::map<std::uintptr_t, retain::GraphBlock> walked_blocks(const retain::ObjectGraph& g) {
  std::map<std::uintptr_t, retain::GraphBlock> walked;
  for (retain::NodeId n = 0; n < g.block_count(); ++n) walked[g.block(n).address] = g.block(n);
  return walked;
}

// The oracle: every block the hooks tracked is walked at its address with
// malloc's usable size; the walk adds only blocks that existed before exact
// mode went on, and glibc's tcache_perthread_structs (allocated past the
// hooks), at most one per thread that ever allocated.
TEST(CoreWalk, WalkedBlocks_EqualTheExactModeOracle) {
  const FixtureCore& f = fixture_core();
  REQUIRE_CORE(f);
  ASSERT_GE(f.tracked.size(), 10u);
  auto s = retain::internal::snapshot_core(f.core, {});
  ASSERT_TRUE(s.ok()) << s.status();
  const auto walked = walked_blocks((*s)->snapshot->graph());
  for (const auto& [addr, b] : f.tracked) {
    const auto it = walked.find(addr);
    ASSERT_NE(it, walked.end()) << "tracked block at " << std::hex << addr << " (" << std::dec << b.requested
                                << " B) not in the core's walk";
    EXPECT_EQ(it->second.size, b.usable) << "at " << std::hex << addr;
  }
  std::size_t tcache_structs = 0;
  for (const auto& [addr, block] : walked) {
    const std::uint64_t size = block.size;
    if (f.tracked.count(addr) != 0) continue;
    if (const auto pre = f.pre.find(addr); pre != f.pre.end()) {
      EXPECT_EQ(size, pre->second.usable);
      continue;
    }
    EXPECT_EQ(size, kTcacheStructUsable) << "untracked block at " << std::hex << addr << " of " << std::dec << size
                                         << " B is neither pre-existing nor a tcache_perthread_struct";
    ++tcache_structs;
  }
  EXPECT_LE(tcache_structs, 3u);  // main, leaker (freed at its exit), holder
  // Exactly one mmapped chunk: g_big's 256 KiB.
  EXPECT_EQ((*s)->walk.mmapped_chunks, 1u);
}

TEST(CoreCli, WhySymbol_NamesTheGlobalBySymbol) {
  const FixtureCore& f = fixture_core();
  REQUIRE_CORE(f);
  const ToolRun text = run_tool(f.core + " why --symbol g_session_list");
  ASSERT_EQ(text.status, 0) << text.err;
  EXPECT_NE(text.out.find("root [global] global g_session_list (main executable)"), std::string::npos) << text.out;
  const ToolRun r = run_tool(f.core + " why --symbol g_session_list --json -n 1");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto paths = nlohmann::json::parse(r.out);
  ASSERT_EQ(paths.size(), 1u) << r.out;
  const auto& hops = paths[0]["path"];
  ASSERT_EQ(hops.size(), 2u) << r.out;
  EXPECT_EQ(hops[0]["symbol"], "g_session_list") << r.out;
  EXPECT_EQ(hops[0]["module"], "main executable") << r.out;
  EXPECT_EQ(hops[1]["type"], "fixture::Session") << r.out;
}

// The fixture ran the heap profiler at rate 1: the core's sampled-block
// table names blocks by allocation site, as live reports do (issue 17 item 5).
TEST(CoreCli, SampledBlocks_NamedByAllocationSiteFromTheProfilersTables) {
  const FixtureCore& f = fixture_core();
  REQUIRE_CORE(f);
  auto s = retain::internal::snapshot_core(f.core, {});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->sampled_note, "");
  const auto& g = (*s)->snapshot->graph();
  std::size_t sampled = 0;
  for (retain::NodeId n = 0; n < g.block_count(); ++n) {
    const retain::GraphBlock b = g.block(n);
    if ((b.site & 0x80000000u) != 0) continue;  // a type or size label
    ++sampled;
    EXPECT_EQ(f.tracked.count(b.address), 1u) << "a sampled block the hooks did not track, at " << std::hex
                                              << b.address;
  }
  EXPECT_EQ(sampled, (*s)->sampled_blocks);
  EXPECT_GE(sampled + 2, f.tracked.size());  // every allocation after the profiler started
  const ToolRun r = run_tool(f.core + " why --symbol g_session_list --json -n 1");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto hop = nlohmann::json::parse(r.out)[0]["path"][1];
  EXPECT_TRUE(hop["site_is_allocation"].get<bool>()) << r.out;
  EXPECT_EQ(hop["site"], "main") << r.out;
  EXPECT_EQ(hop["frames"][0].get<std::string>().rfind("main heap_fixture.cc:", 0), 0u) << r.out;
}

// Sampled blocks sit behind a prefix inside their glibc chunks
// (prof/sampled_prefix.h): the core's walk reports each at the address the
// program held, with malloc_usable_size's size, names it by its allocation
// site from the profiler's tables, and the path to it runs from g_prefixed
// to its first byte.
TEST(CoreWalk, PrefixedSampledBlocks_WalkedAtTheProgramsAddressAndNamed) {
  const FixtureCore& f = fixture_core();
  REQUIRE_CORE(f);
  ASSERT_EQ(f.prefixed.size(), 4u);
  auto s = retain::internal::snapshot_core(f.core, {});
  ASSERT_TRUE(s.ok()) << s.status();
  const auto walked = walked_blocks((*s)->snapshot->graph());
  for (const auto& [addr, b] : f.prefixed) {
    ASSERT_EQ(f.tracked.count(addr), 1u) << std::hex << addr;
    const auto it = walked.find(addr);
    ASSERT_NE(it, walked.end()) << "prefixed block at " << std::hex << addr << " not in the core's walk";
    EXPECT_EQ(it->second.size, b.usable) << std::hex << addr;
    EXPECT_GE(b.usable, b.requested);
    EXPECT_EQ(it->second.site & 0x80000000u, 0u) << "not named by allocation site, at " << std::hex << addr;
  }
  // The aligned one: its prefix is the alignment (4 KiB).
  const auto aligned = std::find_if(f.prefixed.begin(), f.prefixed.end(),
                                    [](const auto& kv) { return kv.first % 4096 == 0; });
  ASSERT_NE(aligned, f.prefixed.end());
  char addr[32];
  std::snprintf(addr, sizeof addr, "%#lx", static_cast<unsigned long>(aligned->first));
  const ToolRun r = run_tool(f.core + " why " + addr + " --json -n 1");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto paths = nlohmann::json::parse(r.out);
  ASSERT_EQ(paths.size(), 1u) << r.out;
  EXPECT_TRUE(paths[0]["reachable"].get<bool>()) << r.out;
  EXPECT_EQ(paths[0]["target"]["size"], aligned->second.usable) << r.out;
  EXPECT_EQ(paths[0]["path"][0]["symbol"], "g_prefixed+0x18") << r.out;  // g_prefixed[3]
  EXPECT_TRUE(paths[0]["path"].back()["site_is_allocation"].get<bool>()) << r.out;
  EXPECT_EQ(paths[0]["path"].back()["offset"], 0) << r.out;  // the global points at the block's start
}

TEST(CoreCli, WhyType_PathRunsFromTheHolderThreadsStack) {
  const FixtureCore& f = fixture_core();
  REQUIRE_CORE(f);
  auto core = CoreFile::open(f.core);
  ASSERT_TRUE(core.ok());
  const pid_t holder = (*core)->threads()[1].tid;
  const ToolRun r = run_tool(f.core + " why --type StackHeld --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto paths = nlohmann::json::parse(r.out);
  ASSERT_EQ(paths.size(), 1u) << r.out;
  const auto& hops = paths[0]["path"];
  ASSERT_EQ(hops.size(), 2u) << r.out;
  EXPECT_EQ(hops[0]["kind"], "stack") << r.out;
  EXPECT_EQ(hops[0]["thread_id"], holder) << r.out;
  // The frame, unwound from the core with the modules' CFI.
  EXPECT_NE(hops[0]["frame"].get<std::string>().find("hold_on_stack"), std::string::npos) << r.out;
  EXPECT_EQ(hops[1]["type"], "fixture::StackHeld") << r.out;
}

TEST(CoreCli, WhyAddress_ExplainsTheBlockHoldingIt) {
  const FixtureCore& f = fixture_core();
  REQUIRE_CORE(f);
  // g_big's block, by the oracle: 256 KiB requested.
  const auto big = std::find_if(f.tracked.begin(), f.tracked.end(),
                                [](const auto& kv) { return kv.second.requested == 256 * 1024; });
  ASSERT_NE(big, f.tracked.end());
  char addr[32];
  std::snprintf(addr, sizeof addr, "%#lx", static_cast<unsigned long>(big->first + 100));
  const ToolRun r = run_tool(f.core + " why " + addr + " --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto paths = nlohmann::json::parse(r.out);
  ASSERT_EQ(paths.size(), 1u) << r.out;
  EXPECT_TRUE(paths[0]["found"].get<bool>()) << r.out;
  EXPECT_TRUE(paths[0]["reachable"].get<bool>()) << r.out;
  EXPECT_EQ(paths[0]["target"]["size"], big->second.usable) << r.out;
  EXPECT_EQ(paths[0]["path"].back()["offset"], 100) << r.out;
}

TEST(CoreCli, Top_LargestRetainerIsTheBigBlock) {
  const FixtureCore& f = fixture_core();
  REQUIRE_CORE(f);
  const ToolRun r = run_tool(f.core + " top --json -n 1");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u) << r.out;
  const auto big = std::find_if(f.tracked.begin(), f.tracked.end(),
                                [](const auto& kv) { return kv.second.requested == 256 * 1024; });
  ASSERT_NE(big, f.tracked.end());
  EXPECT_EQ(j[0]["retained_bytes"], big->second.usable) << r.out;
}

TEST(CoreCli, Leaks_ReportsTheRecordsTheExitedThreadDropped) {
  const FixtureCore& f = fixture_core();
  REQUIRE_CORE(f);
  const ToolRun r = run_tool(f.core + " leaks --json");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["unreachable"]["blocks"], 3) << r.out;
  ASSERT_EQ(j["groups"].size(), 1u) << r.out;  // one allocation site (the leaking thread's lambda)
  EXPECT_EQ(j["groups"][0]["blocks"], 3);
  const std::uintptr_t sample = std::stoull(j["groups"][0]["sample_address"].get<std::string>(), nullptr, 16);
  ASSERT_EQ(f.tracked.count(sample), 1u) << "sample address is no block of the oracle";
  EXPECT_EQ(f.tracked.at(sample).requested, 192u);  // sizeof(LeakedRecord)
}

TEST(CoreCli, Summary_CountsAgreeWithTheOracle) {
  const FixtureCore& f = fixture_core();
  REQUIRE_CORE(f);
  const ToolRun r = run_tool(f.core + " summary --json -n 50");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const std::uint64_t used = j["used"]["blocks"];
  EXPECT_GE(used, f.tracked.size());
  EXPECT_EQ(j["reachable"]["blocks"].get<std::uint64_t>() + j["unreachable"]["blocks"].get<std::uint64_t>(), used);
  EXPECT_EQ(j["unreachable"]["blocks"], 3);
  EXPECT_EQ(j["used"]["mmapped_chunks"], 1);
  bool sessions = false;  // the five Sessions: one allocation site
  for (const auto& row : j["by_type"]) sessions = sessions || (row["name"] == "main" && row["blocks"] == 5);
  EXPECT_TRUE(sessions) << r.out;
}

TEST(CoreCli, Retained_IsReadByGoToolPprof) {
  const FixtureCore& f = fixture_core();
  REQUIRE_CORE(f);
  const std::string profile = cache_dir() + "/retained." + std::to_string(::getpid()) + ".pb.gz";
  const ToolRun r = run_tool(f.core + " retained -o " + profile);
  ASSERT_EQ(r.status, 0) << r.err;
  const std::string cmd = "go tool pprof -top " + profile + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  const int rc = ::pclose(p);
  ::unlink(profile.c_str());
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("Type: retained_space"), std::string::npos) << out;
  EXPECT_NE(out.find("root: global g_big (main executable)"), std::string::npos) << out;
}

TEST(CoreCli, Diff_NamesTheSessionGrowthWithAPathFromTheGlobal) {
  const FixtureCore& a = fixture_core();
  const FixtureCore& b = grown_core();
  REQUIRE_CORE(a);
  REQUIRE_CORE(b);
  // The grown core's program file is gone; --exe points at an identical build.
  const ToolRun r = run_tool("--exe " + fixture_program() + " diff " + a.core + " " + b.core + " --json -n 1");
  ASSERT_EQ(r.status, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 1u) << r.out;
  EXPECT_EQ(j[0]["site"], "main") << r.out;  // the Sessions' allocation site, matched across the two cores
  EXPECT_EQ(j[0]["objects_after"].get<std::uint64_t>() - j[0]["objects_before"].get<std::uint64_t>(), 50u);
  EXPECT_EQ(j[0]["example_path"]["path"][0]["symbol"], "g_session_list") << r.out;
}

TEST(CoreCli, Modules_ProgramFileGone_SaysFileMissingAndDropsItsSymbols) {
  const FixtureCore& b = grown_core();
  REQUIRE_CORE(b);
  const ToolRun r = run_tool(b.core + " why --symbol g_session_list");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("heap_fixture_copy: file missing"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("its symbols are not used"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "no block matches\n");  // no symbols: no global of that name
}

TEST(CoreCli, Sysroot_FindsTheProgramFileUnderIt) {
  const FixtureCore& b = grown_core();
  REQUIRE_CORE(b);
  // The grown core's program was cache_dir()/heap_fixture_copy, now gone:
  // put an identical build at the same path under a sysroot.
  const std::string root = cache_dir() + "/sysroot." + std::to_string(::getpid());
  const std::string cmd = "mkdir -p " + root + cache_dir() + " && cp " + fixture_program() + " " + root +
                          cache_dir() + "/heap_fixture_copy";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const ToolRun r = run_tool("--sysroot " + root + " " + b.core + " why --symbol g_session_list -n 1");
  std::system(("rm -rf " + root).c_str());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err.find("heap_fixture_copy"), std::string::npos) << r.err;  // no warning about it
  EXPECT_NE(r.out.find("root [global] global g_session_list (main executable)"), std::string::npos) << r.out;
}

TEST(CoreCli, Modules_OtherExecutable_SaysBuildIdDiffers) {
  const FixtureCore& f = fixture_core();
  REQUIRE_CORE(f);
  const ToolRun r = run_tool("--exe " + core_tool() + " " + f.core + " modules");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("warning: core_heap_fixture: build id differs"), std::string::npos) << r.out;
  // The file the core names has the right build: its symbols are used.
  EXPECT_NE(r.out.find("symbols from " + fixture_program() + ", which the core names"), std::string::npos) << r.out;
}

// Bad input: exit status 2, one line on stderr, nothing on stdout.
struct BadInput {
  const char* name;
  std::string (*make)(const FixtureCore&);  // returns the arguments
  const char* expect;                       // in the one line
};

std::string copy_prefix(const FixtureCore& f, const std::string& name, std::size_t bytes) {
  const std::string path = cache_dir() + "/" + name + "." + std::to_string(::getpid());
  const std::string cmd = "head -c " + std::to_string(bytes) + " " + f.core + " > " + path;
  return std::system(cmd.c_str()) == 0 ? path : "";
}

const BadInput kBadInputs[] = {
    {"Truncated",
     [](const FixtureCore& f) {
       struct stat st {};
       ::stat(f.core.c_str(), &st);
       return copy_prefix(f, "truncated", static_cast<std::size_t>(st.st_size / 2)) + " summary";
     },
     "truncated core"},
    {"OtherArchitecture",
     [](const FixtureCore& f) {
       const std::string path = copy_prefix(f, "aarch64", 1 << 20);
       const unsigned char aarch64[2] = {183, 0};  // EM_AARCH64, little-endian e_machine
       FILE* out = std::fopen(path.c_str(), "r+b");
       std::fseek(out, 18, SEEK_SET);  // e_machine
       std::fwrite(aarch64, 1, 2, out);
       std::fclose(out);
       return path + " summary";
     },
     "not an x86-64 core (e_machine 183)"},
    {"NotACore", [](const FixtureCore&) { return fixture_program() + " summary"; }, "an ELF file but not a core"},
    {"NotElf", [](const FixtureCore&) { return std::string(CORE_TEST_SOURCE_DIR "/CMakeLists.txt summary"); },
     "not an ELF file"},
    {"MissingExecutable",
     [](const FixtureCore& f) { return "--exe /nonexistent/heap_fixture " + f.core + " summary"; },
     "executable /nonexistent/heap_fixture does not exist"},
    {"MissingCore", [](const FixtureCore&) { return std::string("/nonexistent.core summary"); }, "cannot open core"},
};

void PrintTo(const BadInput& b, std::ostream* os) { *os << b.name; }

class CoreBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(CoreBadInput, ExitsTwoWithOneLine) {
  const FixtureCore& f = fixture_core();
  REQUIRE_CORE(f);
  const ToolRun r = run_tool(GetParam().make(f));
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find(GetParam().expect), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
  std::system(("rm -f " + cache_dir() + "/*." + std::to_string(::getpid())).c_str());
}

INSTANTIATE_TEST_SUITE_P(Cases, CoreBadInput, ::testing::ValuesIn(kBadInputs),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace syncscope::core_test
