// The lab's units that need no allocation hooks, in process, so that they
// also run under TSan and ASan+UBSan: the command line (every rejection
// with its reason), staged output folders (never half-written), and each
// scenario's workload, started, seen to make progress and stopped with
// everything released. The binary's own end-to-end runs are in
// syncscope_lab_test (normal build).
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "cli.h"
#include "output_dir.h"
#include "scenarios.h"

namespace syncscope::lab {
namespace {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

ParseOutcome parse(std::vector<std::string> args) {
  args.insert(args.begin(), "syncscope-lab");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

// A scratch folder, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "syncscope-lab-units-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data()) != nullptr ? tmpl : "";
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST(LabCli, EveryScenarioAccepted_WithItsOptions) {
  for (const ScenarioSpec& s : scenarios()) {
    const ParseOutcome r = parse({s.name, "--seconds", "2.5", "--out", "x", "--exact", "--port", "0"});
    ASSERT_TRUE(r.options.has_value()) << s.name << ": " << r.message;
    EXPECT_EQ(r.options->what, s.name);
    EXPECT_EQ(r.options->seconds, 2.5);
    EXPECT_EQ(r.options->out, "x");
    EXPECT_TRUE(r.options->exact);
    EXPECT_EQ(r.options->port, 0);
  }
  EXPECT_TRUE(parse({"all"}).options.has_value());
  EXPECT_TRUE(parse({"compare"}).options.has_value());
}

TEST(LabCli, UnknownScenario_RejectedListingTheValidNames) {
  const ParseOutcome r = parse({"range-spwan"});
  ASSERT_FALSE(r.options.has_value());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.message.find("range-spwan"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("range-spawn"), std::string::npos) << r.message;
}

TEST(LabCli, BadValues_RejectedWithTheOptionNamed) {
  for (const char* s : {"-1", "0", "abc", "601"}) {
    const ParseOutcome r = parse({"range-spawn", "--seconds", s});
    EXPECT_FALSE(r.options.has_value()) << s;
    EXPECT_EQ(r.exit_code, 2) << s;
    EXPECT_NE(r.message.find("seconds"), std::string::npos) << s << ": " << r.message;
  }
  for (const char* p : {"-1", "65536", "x"}) {
    const ParseOutcome r = parse({"range-spawn", "--port", p});
    EXPECT_FALSE(r.options.has_value()) << p;
    EXPECT_NE(r.message.find("port"), std::string::npos) << p << ": " << r.message;
  }
  const ParseOutcome empty_out = parse({"range-spawn", "--out", ""});
  EXPECT_FALSE(empty_out.options.has_value());
  EXPECT_NE(empty_out.message.find("--out"), std::string::npos) << empty_out.message;
  const ParseOutcome bogus = parse({"range-spawn", "--bogus"});
  EXPECT_FALSE(bogus.options.has_value());
  EXPECT_NE(bogus.message.find("bogus"), std::string::npos) << bogus.message;
  const ParseOutcome missing = parse({});
  EXPECT_FALSE(missing.options.has_value());
  EXPECT_EQ(missing.exit_code, 2);
}

TEST(LabCli, Help_ExitsZeroListingScenariosAndOptions) {
  const ParseOutcome r = parse({"--help"});
  ASSERT_FALSE(r.options.has_value());
  EXPECT_EQ(r.exit_code, 0);
  for (const ScenarioSpec& s : scenarios()) EXPECT_NE(r.message.find(s.name), std::string::npos) << s.name;
  for (const char* o : {"--out", "--seconds", "--exact", "--serve", "--port"}) {
    EXPECT_NE(r.message.find(o), std::string::npos) << o;
  }
}

TEST(LabOutputDir, Commit_MovesTheFolderIntoPlace_NothingElseLeft) {
  ScratchDir root;
  ASSERT_FALSE(root.path().empty());
  {
    StagedDir d(root.path(), "scenario");
    ASSERT_TRUE(d.ok()) << d.error();
    std::ofstream(d.path("a.txt")) << "first";
    EXPECT_FALSE(fs::exists(d.final_path())) << "visible before commit";
    ASSERT_TRUE(d.commit()) << d.error();
  }
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(root.path())) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"scenario"});
  std::ifstream in(fs::path(root.path()) / "scenario" / "a.txt");
  std::string text;
  in >> text;
  EXPECT_EQ(text, "first");
  // A second run replaces the first one's folder whole.
  {
    StagedDir d(root.path(), "scenario");
    ASSERT_TRUE(d.ok()) << d.error();
    std::ofstream(d.path("b.txt")) << "second";
    ASSERT_TRUE(d.commit()) << d.error();
  }
  EXPECT_FALSE(fs::exists(fs::path(root.path()) / "scenario" / "a.txt"));
  EXPECT_TRUE(fs::exists(fs::path(root.path()) / "scenario" / "b.txt"));
}

TEST(LabOutputDir, NoCommit_LeavesNothingBehind) {
  ScratchDir root;
  ASSERT_FALSE(root.path().empty());
  {
    StagedDir d(root.path(), "scenario");
    ASSERT_TRUE(d.ok()) << d.error();
    std::ofstream(d.path("half.txt")) << "half";
  }
  EXPECT_TRUE(fs::is_empty(root.path()));
}

TEST(LabOutputDir, UnusableRoot_RejectedWithTheReason) {
  EXPECT_NE(prepare_output_root("/proc/syncscope-lab-out").find("/proc/syncscope-lab-out"), std::string::npos);
  EXPECT_FALSE(fs::exists("/proc/syncscope-lab-out"));
  ScratchDir root;
  ASSERT_FALSE(root.path().empty());
  const std::string file = root.path() + "/a-file";
  std::ofstream(file) << "x";
  EXPECT_NE(prepare_output_root(file).find("not a directory"), std::string::npos);
  EXPECT_EQ(prepare_output_root(root.path() + "/new/nested"), "");
  EXPECT_TRUE(fs::is_directory(root.path() + "/new/nested"));
  EXPECT_TRUE(fs::is_empty(root.path() + "/new/nested")) << "the write check left its probe";
}

// Each scenario's workload runs its threads and tasks, makes progress (its
// summary's counts change) and stops in time with everything released.
TEST(LabWorkloads, EveryScenario_StartsProgressesAndStopsCleanly) {
  for (const ScenarioSpec& s : scenarios()) {
    SCOPED_TRACE(s.name);
    std::unique_ptr<Workload> w = s.make();
    ASSERT_NE(w, nullptr);
    const std::string idle = w->summary();
    w->start();
    bool progressed = false;
    for (int i = 0; i < 10000 && !progressed; ++i) {
      progressed = w->summary() != idle;
      if (!progressed) std::this_thread::sleep_for(1ms);  // polling a counter; no event to wait on
    }
    const bool stopped = w->stop();
    EXPECT_TRUE(progressed) << "no progress within 10 s: " << w->summary();
    if (!stopped) {
      (void)w.release();  // a task still uses it (Workload::stop's contract)
      FAIL() << "a task did not finish in time";
    }
    EXPECT_TRUE(w->stop()) << "stop() is idempotent";
  }
}

}  // namespace
}  // namespace syncscope::lab
