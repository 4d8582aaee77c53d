// Stopping the debug server while a client keeps its event loop busy never
// aborts the host program, and closes the port (issue 14: the host program
// untouched). libmicrohttpd 0.9.75's MHD_quiesce_daemon(), which stop used
// to call, races the event loop for the listen socket's removal from the
// epoll set; the loser's epoll_ctl(EPOLL_CTL_DEL) fails with ENOENT, and
// MHD_PANIC aborts the process (CI, TSan build: "Failed to remove listen FD
// from epoll set" in a test that stopped the server right after a request).
//
// The race's window is one system call wide, so this executable widens it:
// it defines epoll_ctl, which the real libmicrohttpd then calls, and holds
// every EPOLL_CTL_DEL back 2 ms before passing it to libc's. With the old
// stop, the child aborted with that message within its first three stops,
// in each of 13 runs. Normal build only: the sanitizers' runtimes intercept
// epoll_ctl themselves.
#include <dlfcn.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "http/raw_client.h"
#include "support/forked_child.h"
#include "syncscope/http/debug_server.h"

namespace {
// Set only inside the forked child of the test below. relaxed: a switch; a
// call that reads it stale is merely not delayed.
std::atomic<bool> g_delay_epoll_removals{false};
std::atomic<int> g_delayed_removals{0};  // relaxed: a count read after the threads joined
}  // namespace

// libc's epoll_ctl, with EPOLL_CTL_DEL delayed while the switch is on.
extern "C" int epoll_ctl(int epfd, int op, int fd, struct epoll_event* event) {
  using Real = int (*)(int, int, int, struct epoll_event*);
  static const Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "epoll_ctl"));
  if (real == nullptr) return -1;
  if (op == EPOLL_CTL_DEL && g_delay_epoll_removals.load(std::memory_order_relaxed)) {
    g_delayed_removals.fetch_add(1, std::memory_order_relaxed);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return real(epfd, op, fd, event);
}

namespace syncscope::http {
namespace {

using namespace std::chrono_literals;

// Exit codes of the child: 0 every round passed, 2 a start failed, 3 the
// port still accepted connections after a stop, 4 the delay never applied
// (this executable's epoll_ctl was not the one libmicrohttpd called).
TEST(HostProcess, StopWhileAClientPolls_NeverAbortsAndClosesThePort) {
  const test_support::ChildOutcome out = test_support::run_in_child(
      [] {
        g_delay_epoll_removals.store(true, std::memory_order_relaxed);
        const auto until = std::chrono::steady_clock::now() + 8s;
        for (int round = 0; round < 40 && std::chrono::steady_clock::now() < until; ++round) {
          Options o;
          o.max_connections = 4;
          DebugServer server(o);
          if (!server.start().ok()) return 2;
          const int port = server.port();
          std::atomic<bool> done{false};
          std::thread client([&] {
            while (!done.load(std::memory_order_relaxed)) {
              (void)testing::raw_exchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            }
          });
          std::this_thread::sleep_for(std::chrono::milliseconds(5 + round % 5));
          server.stop();
          done.store(true, std::memory_order_relaxed);
          client.join();
          const int fd = testing::connect_loopback(port);
          if (fd >= 0) {
            ::close(fd);
            return 3;
          }
        }
        return g_delayed_removals.load(std::memory_order_relaxed) > 0 ? 0 : 4;
      },
      60s);
  EXPECT_TRUE(out.exited_with(0)) << out.describe();
}

}  // namespace
}  // namespace syncscope::http
