// The host program must not notice the debug server (issue 14, items 1 and
// 2): a preloaded program that exits while clients poll exits normally; the
// SIGPIPE disposition is left alone (exec'd children die of SIGPIPE as they
// should); only the first process serves and children stay quiet. Real
// programs (Debian's sleep, sh, seq, head, env) under LD_PRELOAD, each run
// with a deadline; in-process checks run in a forked child.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "http/raw_client.h"
#include "http/start_server.h"
#include "support/forked_child.h"

namespace syncscope::http {
namespace {

using namespace std::chrono_literals;

// The preloaded-program tests need the preload object, which builds only
// where the allocation hooks do (not in the sanitizer builds).
#ifdef SYNCSCOPE_HTTP_TEST_HAVE_PRELOAD
std::string preload_object() {
  return (test_support::binary_dir() / "lib" / "libsyncscope_preload.so").string();
}

std::map<std::string, std::string> preload_env(const test_support::ScratchDir& dir, int port) {
  return {{"LD_PRELOAD", preload_object()},
          {"SYNCSCOPE_HTTP", "127.0.0.1:" + std::to_string(port)},
          {"SYNCSCOPE_PROFILE_RATE", "1"},  // every allocation: a long exit dump
          {"SYNCSCOPE_PROFILE_OUT", (dir.path() / "heap-%p.pb.gz").string()}};
}

int count(const std::string& text, const std::string& what) {
  int n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

#define SKIP_WITHOUT_PRELOAD()                                                      \
  if (!std::filesystem::exists(preload_object())) {                                 \
    FAIL() << "no preload object at " << preload_object() << " (no syncscope_preload target)";\
  }

// Item 1: exit() ran static destructors and the exit dump while a server
// thread parsed the next request (Debian's sleep died of SIGSEGV).
TEST(HostProcess, PreloadedProgramExitingUnderPolling_AlwaysExitsZero) {
  SKIP_WITHOUT_PRELOAD();
  test_support::ScratchDir dir;
  constexpr int kRuns = 8;
  int clean = 0;
  std::string failures;
  for (int run = 0; run < kRuns; ++run) {
    const int port = test_support::free_loopback_port();
    std::atomic<bool> done{false};
    std::vector<std::thread> pollers;
    for (int i = 0; i < 2; ++i) {  // poll /metrics back to back until the program is gone
      pollers.emplace_back([&] {
        for (int n = 0; n < 100000 && !done.load(); ++n) {
          if (testing::raw_exchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").empty()) {
            std::this_thread::sleep_for(1ms);
          }
        }
      });
    }
    const test_support::CommandResult r =
        test_support::run_command({"sleep", "0.3"}, preload_env(dir, port), 20s);
    done.store(true);
    for (std::thread& t : pollers) t.join();
    if (r.exit_code == 0) {
      ++clean;
    } else {
      failures += "run " + std::to_string(run) + (r.timed_out ? ": hung" : ": died/failed") +
                  "; stderr: " + r.err.substr(0, 200) + "\n";
    }
  }
  EXPECT_EQ(clean, kRuns) << failures;
}
#endif  // SYNCSCOPE_HTTP_TEST_HAVE_PRELOAD

// Item 2: cpp-httplib's server constructor set SIGPIPE to SIG_IGN.
TEST(HostProcess, ServingLeavesSigpipeDispositionAlone) {
  const test_support::ChildOutcome out = test_support::run_in_child(
      [] {
        struct sigaction before {}, after {};
        sigaction(SIGPIPE, nullptr, &before);
        Options o;
        DebugServer server(o);
        if (!server.start().ok()) return 2;
        // One normal request, and one whose client resets the connection
        // before the answer is written (the server then sees EPIPE/ECONNRESET).
        if (testing::status_of(testing::raw_exchange(
                server.port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) != 200) {
          return 3;
        }
        for (int i = 0; i < 5; ++i) {
          const int fd = testing::connect_loopback(server.port());
          testing::send_all(fd, "GET /debug/ HTTP/1.1\r\nHost: x\r\n\r\n");
          linger l{1, 0};
          setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
          close(fd);
        }
        std::this_thread::sleep_for(100ms);
        server.stop();
        sigaction(SIGPIPE, nullptr, &after);
        return after.sa_handler == before.sa_handler ? 0 : 1;
      },
      30s);
  EXPECT_TRUE(out.exited_with(0)) << out.describe() << " (1 = SIGPIPE disposition changed)";
}

// The exit path stops the server; in a fork()ed child the server's threads
// do not exist, so stopping must not wait for them (every `$(...)` subshell
// of a preloaded shell exits through this path).
TEST(HostProcess, StopInForkedChild_ReturnsWithoutWaitingForParentThreads) {
  Options o;
  DebugServer server(o);
  ASSERT_TRUE(server.start().ok());
  const test_support::ChildOutcome out = test_support::run_in_child(
      [&server] { return server.stop_within(std::chrono::hours(1)) ? 0 : 1; }, 20s);
  EXPECT_TRUE(out.exited_with(0)) << out.describe();
  EXPECT_EQ(testing::status_of(testing::raw_exchange(
                server.port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")),
            200)
      << "the parent still serves";
}

// Sockets of this process bound to local port `port` (the listening socket
// and every connection the server accepted on it).
int sockets_on_local_port(int port) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::atoi(entry.path().filename().c_str());
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) continue;
    if (ss.ss_family == AF_INET &&
        ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port) == port) {
      ++n;
    }
  }
  return n;
}

// A child that forks without exec must not hold the port (it would stay
// bound, unserved, after the parent exits) nor clients' connections.
TEST(HostProcess, ForkedChild_KeepsNoServerSocket) {
  Options o;
  DebugServer server(o);
  ASSERT_TRUE(server.start().ok());
  const int client = testing::connect_loopback(server.port());  // a kept-alive connection
  ASSERT_GE(client, 0);
  testing::send_all(client, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(testing::status_of(testing::read_response(client)), 200);
  ASSERT_GE(sockets_on_local_port(server.port()), 2) << "listening socket and the connection";
  const test_support::ChildOutcome out = test_support::run_in_child(
      [&server] { return sockets_on_local_port(server.port()); }, 20s);
  EXPECT_TRUE(out.exited_with(0)) << out.describe() << " (status = sockets the child kept)";
  ::close(client);
  EXPECT_EQ(testing::status_of(testing::raw_exchange(
                server.port(), "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")),
            200)
      << "the parent still serves";
}

#ifdef SYNCSCOPE_HTTP_TEST_HAVE_PRELOAD
TEST(HostProcess, PreloadedShellPipeline_ChildrenStillDieOfSigpipe) {
  SKIP_WITHOUT_PRELOAD();
  test_support::ScratchDir dir;
  const test_support::CommandResult r = test_support::run_command(
      {"sh", "-c", "seq 1 100000000 | head -1"}, preload_env(dir, test_support::free_loopback_port()),
      30s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1\n");
  EXPECT_EQ(r.err.find("write error"), std::string::npos) << r.err;
}

// Item 2: every child inherited SYNCSCOPE_HTTP and printed "port in use".
TEST(HostProcess, PreloadedShell_OneProcessServesAndChildrenStayQuiet) {
  SKIP_WITHOUT_PRELOAD();
  test_support::ScratchDir dir;
  const test_support::CommandResult r =
      test_support::run_command({"sh", "-c", "/bin/true; /bin/true; env; echo done"},
                           preload_env(dir, test_support::free_loopback_port()), 30s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("done"), std::string::npos);
  EXPECT_EQ(r.out.find("SYNCSCOPE_HTTP="), std::string::npos) << "children must not inherit it";
  EXPECT_EQ(count(r.err, "syncscope:"), 1) << "one stderr line at most:\n" << r.err;
  EXPECT_EQ(count(r.err, "debug server on"), 1) << r.err;
}

TEST(HostProcess, InheritOptIn_KeepsVariableAndChildrenStaySilent) {
  SKIP_WITHOUT_PRELOAD();
  test_support::ScratchDir dir;
  std::map<std::string, std::string> env = preload_env(dir, test_support::free_loopback_port());
  env["SYNCSCOPE_HTTP_INHERIT"] = "1";
  const test_support::CommandResult r =
      test_support::run_command({"sh", "-c", "/bin/true; env; echo done"}, env, 30s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("SYNCSCOPE_HTTP="), std::string::npos) << "opt-in keeps the variable";
  EXPECT_EQ(count(r.err, "syncscope:"), 1) << r.err;
}
#endif  // SYNCSCOPE_HTTP_TEST_HAVE_PRELOAD

}  // namespace
}  // namespace syncscope::http
