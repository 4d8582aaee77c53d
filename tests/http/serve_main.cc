// syncscope-http-serve: runs a DebugServer for manual checks and for the
// preload comparison: `http_serve [port] [seconds] [token]` prints the URL, serves
// for `seconds` (default 30), then stops.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "syncscope/http/debug_server.h"

int main(int argc, char** argv) {
  syncscope::http::Options o;
  o.port = argc > 1 ? std::atoi(argv[1]) : 0;
  const int seconds = argc > 2 ? std::atoi(argv[2]) : 30;
  if (argc > 3) o.token = argv[3];  // clients must send "Authorization: Bearer <token>"
  syncscope::http::DebugServer server(o);
  if (absl::Status st = server.start(); !st.ok()) {
    std::fprintf(stderr, "http_serve: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  std::printf("%s\n", server.url().c_str());
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  server.stop();
  return 0;
}
