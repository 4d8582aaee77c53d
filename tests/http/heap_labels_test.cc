// Task labels on heap samples (issue 18 item 4): an allocation sampled inside
// a task carries the pprof labels task and task_site on /debug/pprof/heap
// and /debug/pprof/allocs, so `go tool pprof -tagfocus=task=NAME` keeps
// exactly the task's allocations; one sampled outside any task carries none.
// Checked with the real `go tool pprof` and with tools/pprofcheck.
#include <httplib.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "http/pprofcheck_runner.h"
#include "http/start_server.h"

#if defined(SYNCSCOPE_HTTP_TEST_HAVE_HOOKS)
#include "syncscope/prof/heap_profiler.h"
#include "syncscope/task/task.h"

namespace syncscope::http {
namespace {

using namespace std::chrono_literals;

// 32 blocks of 64 KiB: at a sampling rate of 4096 bytes each is sampled
// with probability 1 - exp(-16), so every one is in the profile.
constexpr int kBlocks = 32;
constexpr std::size_t kBlockBytes = 64 * 1024;
using Blocks = std::vector<std::unique_ptr<char[]>>;

// noipa: identical code folding would merge the two, and the profile would
// name only one of them.
__attribute__((noipa)) void heap_labels_test_task_alloc(Blocks* keep) {
  for (int i = 0; i < kBlocks; ++i) {
    keep->emplace_back(new char[kBlockBytes]);
    keep->back()[0] = static_cast<char>(i);  // touch: keep the allocation real
  }
}

__attribute__((noipa)) void heap_labels_test_untasked_alloc(Blocks* keep) {
  for (int i = 0; i < kBlocks; ++i) {
    keep->emplace_back(new char[kBlockBytes]);
    keep->back()[0] = static_cast<char>(i + 1);
  }
}

// go tool pprof -top [extra...] FILE, with HOME and PPROF_TMPDIR in `dir`.
test_support::CommandResult pprof_top(const test_support::ScratchDir& dir, const std::string& file,
                                 const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {"go", "tool", "pprof", "-top"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(file);
  return test_support::run_command(
      argv, {{"HOME", dir.path().string()}, {"PPROF_TMPDIR", dir.path().string()}}, 60s);
}

// Allocates kBlocks inside the task "fleet-heap-task" and kBlocks on a plain
// thread (both kept live, or freed when !keep), fetches `path`, and checks
// the labels with pprofcheck (`kind`) and `go tool pprof -tagfocus`.
void check_labels(const std::string& path, const std::string& kind, bool keep) {
  const std::int64_t old_rate = prof::HeapProfiler::sample_rate();
  prof::HeapProfiler::set_sample_rate(4096);
  prof::HeapProfiler::start();
  auto server = testing::start_server();
  ASSERT_NE(server, nullptr);
  Blocks in_task, untasked;
  task::TaskHandle h = task::spawn_detached("fleet-heap-task", [&] {
    heap_labels_test_task_alloc(&in_task);
    if (!keep) in_task.clear();
  });
  ASSERT_TRUE(h.join_for(10s));
  std::thread([&] {
    heap_labels_test_untasked_alloc(&untasked);
    if (!keep) untasked.clear();
  }).join();
  httplib::Client client("127.0.0.1", server->port());
  client.set_read_timeout(30, 0);
  const httplib::Result res = client.Get(path);
  prof::HeapProfiler::set_sample_rate(old_rate);
  ASSERT_TRUE(res) << "no response from " << path;
  ASSERT_EQ(res->status, 200) << res->body;

  const test_support::CommandResult check = testing::pprofcheck(
      res->body, kind,
      {"-want-label", "task=fleet-heap-task", "-want-function", "heap_labels_test_task_alloc",
       "-want-function", "heap_labels_test_untasked_alloc"});
  ASSERT_EQ(check.exit_code, 0) << check.out << check.err;

  test_support::ScratchDir dir;
  const std::string file = (dir.path() / "heap.pb.gz").string();
  { std::ofstream(file, std::ios::binary) << res->body; }
  // Unfiltered, both functions are there: the filters below have something to drop.
  const test_support::CommandResult all = pprof_top(dir, file, {});
  ASSERT_EQ(all.exit_code, 0) << all.out << all.err;
  ASSERT_NE(all.out.find("heap_labels_test_task_alloc"), std::string::npos) << all.out;
  ASSERT_NE(all.out.find("heap_labels_test_untasked_alloc"), std::string::npos) << all.out;
  // The task's name keeps its allocations and only them.
  const test_support::CommandResult task = pprof_top(dir, file, {"-tagfocus=task=fleet-heap-task"});
  ASSERT_EQ(task.exit_code, 0) << task.out << task.err;
  EXPECT_NE(task.out.find("heap_labels_test_task_alloc"), std::string::npos) << task.out;
  EXPECT_EQ(task.out.find("heap_labels_test_untasked_alloc"), std::string::npos) << task.out;
  // The spawn site names this file.
  const test_support::CommandResult site = pprof_top(dir, file, {"-tagfocus=task_site=heap_labels_test"});
  ASSERT_EQ(site.exit_code, 0) << site.out << site.err;
  EXPECT_NE(site.out.find("heap_labels_test_task_alloc"), std::string::npos) << site.out;
  // Any task label at all: the allocation outside a task has none.
  const test_support::CommandResult any = pprof_top(dir, file, {"-tagfocus=task=."});
  ASSERT_EQ(any.exit_code, 0) << any.out << any.err;
  EXPECT_EQ(any.out.find("heap_labels_test_untasked_alloc"), std::string::npos) << any.out;
}

TEST(HeapLabels, HeapSamplesInsideTask_CarryTaskLabels_TagfocusSelectsThem) {
  check_labels("/debug/pprof/heap", "heap", /*keep=*/true);
}

// allocs: the labels are the allocating task's, and stay after the blocks are freed.
TEST(HeapLabels, AllocsSamplesInsideTask_CarryTaskLabels_AfterFree) {
  check_labels("/debug/pprof/allocs", "allocs", /*keep=*/false);
}

}  // namespace
}  // namespace syncscope::http
#endif
