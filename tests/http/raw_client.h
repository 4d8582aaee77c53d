// Raw loopback HTTP for the hostile-client tests: exact bytes out, whatever
// comes back in, every call bounded by socket timeouts.
#pragma once

#include <string>

namespace syncscope::http::testing {

// A connected loopback socket with 5 s send/receive timeouts, or -1.
int connect_loopback(int port);

// Sends all of `bytes` (stops early if the server closes); false on error.
bool send_all(int fd, const std::string& bytes);

// Reads one response (until the announced Content-Length is in, the peer
// closes, or the receive timeout expires). Empty when nothing came.
std::string read_response(int fd);

// connect + send + read_response + close.
std::string raw_exchange(int port, const std::string& request);

// The status code of a response ("HTTP/1.1 200 ..." -> 200); 0 if none.
int status_of(const std::string& response);

// The body of a response (after the blank line).
std::string body_of(const std::string& response);

// Figures of this process from /proc/self: RSS in KiB, threads, open fds.
struct ProcessFigures {
  long rss_kib = 0;
  long threads = 0;
  long fds = 0;
};
ProcessFigures process_figures();

}  // namespace syncscope::http::testing
