// HeapProfiler::write_address_profile (what the LD_PRELOAD object writes at
// exit, issue 16 item 2): a profile with addresses and no names whose
// mappings are complete enough for `go tool pprof` to symbolize it from the
// binaries. The oracles are independent of our module code: readelf for the
// build id, /proc/self/maps for the address ranges, and the in-process
// symbolized profile of the same heap for the names and lines.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <google/protobuf/io/gzip_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "support/go_pprof.h"
#include "support/text_match.h"
#include "profile.pb.h"  // generated from src/prof/profile.proto
#include "syncscope/prof/heap_profiler.h"

namespace syncscope::prof {
namespace {

namespace pb = perftools::profiles;
using ::syncscope::test_support::contains_match;
using ::syncscope::test_support::go_pprof;
using ::syncscope::test_support::read_file;
using ::syncscope::test_support::run_shell;
using ::syncscope::test_support::ScratchDir;
using ::syncscope::test_support::search;
using ::syncscope::test_support::search_all;
using ::testing::HasSubstr;

volatile int g_sink = 0;
std::vector<void*>* g_keep = nullptr;

__attribute__((noipa)) void address_site_three(int n) {
  g_sink = 3;
  for (int i = 0; i < n; ++i) g_keep->push_back(std::malloc(3000));
}

__attribute__((noipa)) void address_site_one(int n) {
  g_sink = 1;
  for (int i = 0; i < n; ++i) g_keep->push_back(std::malloc(1000));
}

pb::Profile parse_gzipped(const std::string& bytes) {
  google::protobuf::io::ArrayInputStream raw(bytes.data(), static_cast<int>(bytes.size()));
  google::protobuf::io::GzipInputStream gz(&raw, google::protobuf::io::GzipInputStream::GZIP);
  pb::Profile p;
  EXPECT_TRUE(p.ParseFromZeroCopyStream(&gz));
  return p;
}

// The GNU build id of `file` as readelf prints it ("" when none).
std::string readelf_build_id(const std::string& file) {
  int status = 0;
  const std::string out = run_shell("readelf -n '" + file + "'", &status);
  const auto m = search(out, R"(Build ID: ([0-9a-f]+))");
  return m ? (*m)[1] : "";
}

// The values of the `pprof -top` rows that name `site`, with the site (the
// two writers' names differ in how pprof renders the anonymous namespace).
std::set<std::string> site_rows(const std::string& top, const std::string& site) {
  std::set<std::string> out;
  for (const auto& m : search_all(top, R"((\d+B\s+[\d.]+%\s+[\d.]+%\s+\d+B\s+[\d.]+%)\s+.*)" + site)) {
    out.insert(m[1] + " " + site);
  }
  return out;
}

class AddressProfileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    keep_.reserve(3000);
    g_keep = &keep_;
    HeapProfiler::set_sample_rate(1);  // every allocation: exact weights
    HeapProfiler::start();
    address_site_three(1000);
    address_site_one(1000);
    HeapProfiler::stop();
  }
  void TearDown() override {
    for (void* p : keep_) std::free(p);
    g_keep = nullptr;
    HeapProfiler::set_sample_rate(HeapProfiler::kDefaultSampleRate);
  }
  std::vector<void*> keep_;
  ScratchDir dir_;
};

TEST_F(AddressProfileTest, Mappings_CompleteWithFileBuildIdAndRanges) {
  const pb::Profile p = parse_gzipped(HeapProfiler::address_profile_bytes());
  ASSERT_GT(p.mapping_size(), 1);
  const std::string maps = read_file("/proc/self/maps");
  for (const pb::Mapping& m : p.mapping()) {
    const std::string& file = p.string_table(m.filename());
    SCOPED_TRACE(file);
    EXPECT_FALSE(m.has_functions());
    EXPECT_FALSE(m.has_line_numbers());
    EXPECT_LT(m.memory_start(), m.memory_limit());
    if (file.empty() || file.find("vdso") != std::string::npos) continue;  // not a file
    // The kernel's view: an executable mapping of that file at that offset
    // covers memory_start.
    bool covered = false;
    std::istringstream lines(maps);
    for (std::string line; std::getline(lines, line);) {
      unsigned long lo = 0, hi = 0, off = 0;
      char perms[8] = {};
      char path[4096] = {};
      if (std::sscanf(line.c_str(), "%lx-%lx %7s %lx %*s %*s %4095s", &lo, &hi, perms, &off, path) != 5) continue;
      std::error_code ec;  // the loader may name /lib/..., the kernel /usr/lib/...
      if (std::filesystem::equivalent(file, path, ec) && perms[2] == 'x' && lo <= m.memory_start() && m.memory_start() < hi) {
        EXPECT_EQ(m.file_offset(), off + (m.memory_start() - lo));
        covered = true;
      }
    }
    EXPECT_TRUE(covered) << "no executable mapping of the file at " << std::hex << m.memory_start();
    EXPECT_EQ(p.string_table(m.build_id()), readelf_build_id(file));
  }
  // The first mapping is the test binary itself.
  char self[4096] = {};
  ASSERT_GT(readlink("/proc/self/exe", self, sizeof self - 1), 0);
  EXPECT_EQ(p.string_table(p.mapping(0).filename()), self);
  // Every location of our stacks lies in its mapping.
  for (const pb::Location& l : p.location()) {
    ASSERT_GT(l.mapping_id(), 0u) << std::hex << l.address();
    const pb::Mapping& m = p.mapping(static_cast<int>(l.mapping_id() - 1));
    EXPECT_EQ(m.id(), l.mapping_id());
    EXPECT_GE(l.address(), m.memory_start());
    EXPECT_LT(l.address(), m.memory_limit());
    // At most a symbol-table name, never a line: lines are pprof's to find.
    ASSERT_LE(l.line_size(), 1);
    if (l.line_size() == 1) {
      EXPECT_EQ(l.line(0).line(), 0);
    }
  }
  // The sites are named from the binary's symbol table (mangled).
  std::set<std::string> names;
  for (const pb::Function& f : p.function()) names.insert(p.string_table(f.name()));
  EXPECT_THAT(names, ::testing::Contains(::testing::HasSubstr("address_site_three")));
  EXPECT_THAT(names, ::testing::Contains(::testing::HasSubstr("address_site_one")));
}

TEST_F(AddressProfileTest, GoToolPprof_SymbolizesFromTheBinary_SameAsInProcess) {
  const std::string addresses = dir_.file("addresses.pb.gz");
  const std::string named = dir_.file("named.pb.gz");
  const absl::Status addressed = HeapProfiler::write_address_profile(addresses);
  ASSERT_TRUE(addressed.ok()) << addressed;
  const absl::Status written = HeapProfiler::write_heap_profile(named);
  ASSERT_TRUE(written.ok()) << written;
  int status = 0;
  const std::string top =
      go_pprof(dir_, "-top -unit=B -sample_index=inuse_space -focus=address_site", addresses, &status);
  ASSERT_EQ(status, 0) << top;
  EXPECT_TRUE(contains_match(top, R"(3000000B\s+75\.0+%.*address_site_three)")) << top;
  EXPECT_TRUE(contains_match(top, R"(1000000B\s+25\.0+%.*address_site_one)")) << top;
  const std::string traces = go_pprof(dir_, "-traces -focus=address_site_one", addresses, &status);
  EXPECT_THAT(traces, HasSubstr("AddressProfileTest::SetUp"));  // the caller, named too
  // The same sites with the same values as the in-process symbolized
  // profile of the same heap (the oracle: libdw in process).
  const std::string top_n =
      go_pprof(dir_, "-top -unit=B -sample_index=inuse_space -focus=address_site", named, &status);
  for (const char* site : {"address_site_three", "address_site_one"}) {
    const std::set<std::string> expected = site_rows(top_n, site);
    ASSERT_EQ(expected.size(), 1u) << top_n;
    EXPECT_EQ(site_rows(top, site), expected) << top;
  }
}

}  // namespace
}  // namespace syncscope::prof
