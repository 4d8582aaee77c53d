#include "http/preloaded_program.h"

#include <httplib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

namespace syncscope::http::testing {

std::string preload_object() {
  return (test_support::binary_dir() / "lib" / "libsyncscope_preload.so").string();
}

PreloadedProgram::PreloadedProgram(const test_support::ScratchDir& dir, const std::string& name,
                                   const std::string& c_source, const std::vector<std::string>& cc_flags)
    : log_path_(dir.file(name + ".log")) {
  const std::string so = preload_object();
  if (!std::filesystem::exists(so)) {
    error_ = "no preload object at " + so + ": the build has no syncscope_preload target";
    return;
  }
  const std::string src = dir.file(name + ".c"), exe = dir.file(name);
  std::ofstream(src) << c_source;
  std::vector<std::string> cc = {"cc", "-O1", "-g"};
  cc.insert(cc.end(), cc_flags.begin(), cc_flags.end());
  cc.insert(cc.end(), {"-o", exe, src});
  const test_support::CommandResult built = test_support::run_command(cc);
  if (built.exit_code != 0) {
    error_ = "cc failed: " + built.err;
    return;
  }
  port_ = test_support::free_loopback_port();
  process_ = std::make_unique<test_support::ChildProcess>(
      std::vector<std::string>{exe}, log_path_,
      std::map<std::string, std::string>{{"LD_PRELOAD", so},
                                         {"SYNCSCOPE_HTTP", "127.0.0.1:" + std::to_string(port_)},
                                         {"SYNCSCOPE_PROFILE_RATE", "4096"}});
  if (process_->pid() <= 0) {
    error_ = "cannot start " + exe;
    return;
  }
  httplib::Client c("127.0.0.1", port_);
  for (int i = 0; i < 200; ++i) {
    auto r = c.Get("/debug/pprof/");
    if (r && r->status == 200) return;
    // Polling a server in another process: there is no event to wait on.
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  error_ = "server never came up; program log:\n" + log();
}

std::string PreloadedProgram::log() const { return test_support::read_file(log_path_); }

}  // namespace syncscope::http::testing
