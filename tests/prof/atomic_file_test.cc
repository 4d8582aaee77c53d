// write_file_atomically, the one file writer: a symlink planted at the path
// is replaced, never written through; a failed write leaves the old file and
// no temporary file; the message names the path and the errno.
#include "syncscope/prof/atomic_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "syncscope/prof/profile_builder.h"

namespace syncscope::prof {
namespace {

namespace fs = std::filesystem;

class AtomicFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "syncscope-atomic-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static std::string contents(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::size_t entries() const {
    return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir_), fs::directory_iterator{}));
  }
  fs::path dir_;
};

// A profile writer (ProfileBuilder::write_file goes through
// write_file_atomically) replaces a symlink at its path instead of
// overwriting the file the link points to.
TEST_F(AtomicFileTest, ProfileWriter_ReplacesSymlinkAtPath_NotItsTarget) {
  const fs::path victim = dir_ / "victim", link = dir_ / "profile.pb.gz";
  std::ofstream(victim) << "keep";
  fs::create_symlink(victim, link);
  ProfileBuilder builder({{"samples", "count"}}, {"cpu", "nanoseconds"}, 1);
  const absl::Status written = builder.write_file(link.string());
  ASSERT_TRUE(written.ok()) << written;
  EXPECT_EQ(contents(victim), "keep");
  EXPECT_FALSE(fs::is_symlink(link));
  EXPECT_EQ(contents(link), builder.serialize_gzipped());
}

TEST_F(AtomicFileTest, Write_ReplacesOldContentsWhole) {
  const fs::path p = dir_ / "f.txt";
  ASSERT_TRUE(write_file_atomically(p.string(), "old contents").ok());
  ASSERT_TRUE(write_file_atomically(p.string(), "new").ok());
  EXPECT_EQ(contents(p), "new");
  EXPECT_EQ(entries(), 1u);  // no temporary file left behind
}

TEST_F(AtomicFileTest, FailedWrite_KeepsOldFileAndNamesPathAndErrno) {
  const fs::path p = dir_ / "missing-dir" / "f.txt";
  const absl::Status st = write_file_atomically(p.string(), "x");
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);  // ENOENT
  EXPECT_NE(st.message().find(p.string()), std::string::npos) << st;
  EXPECT_NE(st.message().find("No such file or directory"), std::string::npos) << st;
  // A directory where the file should go: the rename fails, the directory
  // stays, and the temporary file is removed.
  const fs::path d = dir_ / "a-dir";
  fs::create_directory(d);
  std::ofstream(d / "inside") << "stay";
  EXPECT_FALSE(write_file_atomically(d.string(), "x").ok());
  EXPECT_EQ(contents(d / "inside"), "stay");
  EXPECT_EQ(entries(), 1u);
}

}  // namespace
}  // namespace syncscope::prof
