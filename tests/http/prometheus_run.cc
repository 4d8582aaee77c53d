#include "http/prometheus_run.h"

#include <httplib.h>

#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

namespace syncscope::http::testing {
namespace {

std::vector<std::string> prometheus_argv(const test_support::ScratchDir& dir, const std::string& scrape_configs,
                                         int port) {
  const auto config = dir.path() / "prometheus.yml";
  std::ofstream(config) << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n" << scrape_configs;
  return {"/usr/bin/prometheus", "--config.file=" + config.string(),
          "--storage.tsdb.path=" + (dir.path() / "data").string(),
          "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"};
}

}  // namespace

PrometheusRun::PrometheusRun(const test_support::ScratchDir& dir, const std::string& scrape_configs)
    : dir_(dir),
      port_(test_support::free_loopback_port()),
      process_(prometheus_argv(dir, scrape_configs, port_), dir.path() / "prometheus.log") {}

std::string PrometheusRun::log() const { return test_support::read_file(dir_.path() / "prometheus.log"); }

std::optional<double> PrometheusRun::query(const std::string& query, std::chrono::seconds limit) const {
  httplib::Client c("127.0.0.1", port_);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = c.Get("/api/v1/query", httplib::Params{{"query", query}}, httplib::Headers{});
    if (r && r->status == 200) {
      const nlohmann::json j = nlohmann::json::parse(r->body, nullptr, false);
      if (!j.is_discarded() && j.value("status", "") == "success" && !j["data"]["result"].empty()) {
        return std::stod(j["data"]["result"][0]["value"][1].get<std::string>());
      }
    }
    // Polling a remote server: there is no event to wait on.
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  return std::nullopt;
}

}  // namespace syncscope::http::testing
