// The report files exist and are valid, checked by the real clients:
// go tool pprof reads heap.pb.gz and goroutine.pb.gz, trace.json parses as a
// Chrome trace, report.html loads in headless Chromium without console
// errors, promtool accepts metrics.prom.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "lab_test_util.h"

namespace syncscope::lab::testing {
namespace {
namespace fs = std::filesystem;

// Whether this build has the task part (goroutine profile and trace).
constexpr bool kHaveTask = true;

class LabFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    out_ = new ScratchDir();
    result_ = new CommandResult(run_lab("range-spawn", 2, out_->path()));
  }
  static void TearDownTestSuite() {
    delete result_;
    delete out_;
  }
  static std::string file(const std::string& name) { return out_->file("range-spawn/" + name); }
  static bool unavailable(const std::string& what) {
    const nlohmann::json v = read_verdict(out_->path(), "range-spawn");
    for (const auto& u : v["unavailable"]) {
      if (u.get<std::string>().find(what) != std::string::npos) return true;
    }
    return false;
  }
  // go tool pprof -top on `name`, with HOME and PPROF_TMPDIR in a temp dir.
  static CommandResult pprof_top(const std::string& name) {
    ScratchDir home;
    return run_shell("HOME=" + shell_quote(home.path()) + " PPROF_TMPDIR=" + shell_quote(home.path()) +
               " GOCACHE=" + shell_quote(home.file("gocache")) + " go tool pprof -top " + shell_quote(file(name)));
  }

  static ScratchDir* out_;
  static CommandResult* result_;
};
ScratchDir* LabFiles::out_ = nullptr;
CommandResult* LabFiles::result_ = nullptr;

TEST_F(LabFiles, EveryPromisedFileIsWrittenAndItsPathPrinted) {
  for (const char* f : {"verdict.json", "metrics.prom", "report.html"}) {
    EXPECT_TRUE(fs::exists(file(f))) << f;
    EXPECT_NE(result_->out.find(file(f)), std::string::npos) << "path of " << f << " not printed";
  }
  // Which files exist follows from the build, never from the lab's own
  // excuse: with the task part built, a missing trace is a failure.
  EXPECT_TRUE(fs::exists(file("heap.pb.gz"))) << result_->out << result_->err;
  for (const char* f : {"goroutine.pb.gz", "trace.json"}) {
    if (kHaveTask) {
      EXPECT_TRUE(fs::exists(file(f))) << f << " not written:\n" << result_->out << result_->err;
    } else {
      EXPECT_NE(result_->out.find(std::string(f) + " not written"), std::string::npos) << result_->out;
    }
  }
  // Nothing staged is left behind.
  for (const auto& e : fs::directory_iterator(out_->path())) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  }
  EXPECT_NE(result_->err.find("[lab 1/1] range-spawn"), std::string::npos) << result_->err;
}

TEST_F(LabFiles, VerdictJsonHasTheDesignSchema) {
  const nlohmann::json v = read_verdict(out_->path(), "range-spawn");
  EXPECT_EQ(v["scenario"], "range-spawn");
  EXPECT_TRUE(v["leak"].is_boolean());
  EXPECT_TRUE(v["cause"].is_string());
  EXPECT_TRUE(v["live_bytes_start"].is_number());
  EXPECT_TRUE(v["live_bytes_end"].is_number());
  for (const char* k : {"resident_tasks", "retention_path", "top_retainers"}) EXPECT_TRUE(v[k].is_array()) << k;
  for (const auto& g : v["resident_tasks"]) {
    for (const char* k : {"spawn_site", "count", "blocking_reason", "oldest_age_s"}) EXPECT_TRUE(g.contains(k)) << k;
  }
  for (const auto& h : v["retention_path"]) {
    for (const char* k : {"kind", "site", "offset", "size"}) EXPECT_TRUE(h.contains(k)) << k;
  }
  for (const auto& t : v["top_retainers"]) {
    for (const char* k : {"site", "retained_bytes"}) EXPECT_TRUE(t.contains(k)) << k;
  }
}

TEST_F(LabFiles, GoToolPprofReadsTheHeapAndGoroutineProfiles) {
  if (!have_program("go")) FAIL() << "go is not installed: scripts/install-deps.sh provides it";
  for (const char* f : {"heap.pb.gz", "goroutine.pb.gz"}) {
    if (!kHaveTask && f[0] == 'g') {
      EXPECT_TRUE(unavailable("goroutine")) << f << " missing without a reason";
      continue;
    }
    ASSERT_TRUE(fs::exists(file(f))) << f << " not written:\n" << result_->out << result_->err;
    const CommandResult r = pprof_top(f);
    EXPECT_EQ(r.exit_code, 0) << f << ":\n" << r.err;
    EXPECT_NE(r.out.find("flat%"), std::string::npos) << f << ":\n" << r.out << r.err;
  }
}

// The retention profile: who holds memory, readable by pprof, with the
// leaked payloads' holders among its entries.
TEST_F(LabFiles, GoToolPprofReadsTheRetentionProfile) {
  if (!have_program("go")) FAIL() << "go is not installed: scripts/install-deps.sh provides it";
  ASSERT_TRUE(fs::exists(file("retained.pb.gz"))) << result_->out << result_->err;
  const CommandResult r = pprof_top("retained.pb.gz");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("flat%"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("allocate_cache_payload"), std::string::npos) << r.out;  // sampled payloads
}

// Strict validity (issue 18 item 5): pprof's own profile package parses
// every profile the lab writes, CheckValid passes, every Location has a
// Mapping and the sample types are Go's for the kind (tools/pprofcheck).
TEST_F(LabFiles, EveryProfile_PassesPprofCheckValid) {
  const std::string tool = fs::path(lab_binary()).parent_path() / "pprofcheck";
  if (!fs::exists(tool)) FAIL() << "no " << tool << ": scripts/install-deps.sh installs golang-github-google-pprof-dev";
  std::vector<std::pair<std::string, std::string>> files = {{"heap.pb.gz", "heap"}, {"retained.pb.gz", "retained"}};
  if (kHaveTask) files.emplace_back("goroutine.pb.gz", "goroutine");
  for (const auto& [name, kind] : files) {
    ASSERT_TRUE(fs::exists(file(name))) << name << " not written:\n" << result_->out << result_->err;
    const CommandResult r = run_shell(shell_quote(tool) + " -kind " + kind + " -min-samples 1 " + shell_quote(file(name)));
    EXPECT_EQ(r.exit_code, 0) << name << ":\n" << r.out << r.err;
  }
}

TEST_F(LabFiles, TraceJsonIsAChromeTrace) {
  if (!kHaveTask) {  // the build has no task part: the lab must say so
    EXPECT_NE(result_->out.find("trace.json not written"), std::string::npos) << result_->out;
    return;
  }
  ASSERT_TRUE(fs::exists(file("trace.json"))) << result_->out << result_->err;
  const nlohmann::json t = nlohmann::json::parse(read_file(file("trace.json")), nullptr, false);
  ASSERT_FALSE(t.is_discarded());
  const nlohmann::json& events = t.is_array() ? t : t["traceEvents"];
  ASSERT_TRUE(events.is_array());
  EXPECT_FALSE(events.empty());
  bool counter = false;
  for (const auto& e : events) {
    if (e.value("ph", "") == "C" && e.value("name", "") == "live heap bytes") counter = true;
  }
  EXPECT_TRUE(counter) << "no 'live heap bytes' counter track";
}

TEST_F(LabFiles, ReportHtmlLoadsInChromiumWithoutConsoleErrors) {
  ASSERT_TRUE(fs::exists("/usr/bin/chromium")) << "chromium is not installed: scripts/install-deps.sh provides it";
  ScratchDir profile;
  const CommandResult r = run_shell(
      "timeout 60 /usr/bin/chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
      "--disable-background-networking --disable-component-update --disable-sync --user-data-dir=" +
      shell_quote(profile.path()) + " --enable-logging=stderr --v=0 --dump-dom " + shell_quote("file://" + file("report.html")));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("syncscope lab"), std::string::npos) << r.out.substr(0, 500);
  EXPECT_NE(r.out.find("<svg"), std::string::npos);
  EXPECT_EQ(r.err.find("CONSOLE"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("Uncaught"), std::string::npos) << r.err;
}

TEST_F(LabFiles, PromtoolAcceptsMetrics) {
  ASSERT_TRUE(have_program("promtool")) << "promtool is not installed: scripts/install-deps.sh provides it";
  const CommandResult r = run_shell("promtool check metrics < " + shell_quote(file("metrics.prom")));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

}  // namespace
}  // namespace syncscope::lab::testing
