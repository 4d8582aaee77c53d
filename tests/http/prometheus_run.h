// A real Prometheus server for the http tests, scraping what the caller's
// scrape_configs name, queried through its HTTP API.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "support/child_process.h"
#include "support/scratch_dir.h"

namespace syncscope::http::testing {

class PrometheusRun {
 public:
  // Starts /usr/bin/prometheus on a free loopback port with a 1 s scrape
  // interval and `scrape_configs` (YAML, starting with "scrape_configs:"),
  // keeping its config, data and log in `dir`. pid() <= 0 when it did not start.
  PrometheusRun(const test_support::ScratchDir& dir, const std::string& scrape_configs);

  pid_t pid() const { return process_.pid(); }
  // SIGTERM, then SIGKILL after 5 s (the destructor does it too).
  void stop() { process_.stop(); }
  // Prometheus's own log, for failure messages.
  std::string log() const;
  // Polls the query API until `query` returns a sample; nullopt after `limit`.
  std::optional<double> query(const std::string& query, std::chrono::seconds limit) const;

 private:
  const test_support::ScratchDir& dir_;
  int port_;
  test_support::ChildProcess process_;
};

}  // namespace syncscope::http::testing
