#include "stalled_reader.h"

#include <thread>

#include "absl/strings/str_format.h"
#include "tasks_shim.h"

namespace syncscope::lab {

StalledReader::StalledReader(StalledReaderParams params)
    : params_(params),
      sessions_(syncscope::map::MapOptions{.name = "lab.sessions"}),
      touches_(syncscope::map::MapOptions{.name = "lab.sessions.touches"}) {
  for (std::uint64_t k = 0; k < params_.sessions; ++k) {
    sessions_.store(k, make_cache_value(k, 0, params_.value_bytes));
  }
}

StalledReader::~StalledReader() { stop(); }

void StalledReader::start() {
  if (started_) return;
  started_ = true;
  tasks_.spawn("session writer", [this] { writer_loop(); });
  tasks_.spawn("export report", [this] { export_loop(); });
}

void StalledReader::writer_loop() {
  std::uint64_t key = 0;
  std::uint64_t version = 1;
  while (!released()) {
    sessions_.store(key, make_cache_value(key, version, params_.value_bytes));
    replaced_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
    for (std::size_t i = 0; i < params_.counter_updates_per_write; ++i) {
      const std::uint64_t k = (key + i) % params_.sessions;
      touches_.store(k, touches_.load(k).value_or(0) + 1);
    }
    key = (key + 1) % params_.sessions;
    if (key == 0) ++version;
    std::this_thread::sleep_for(params_.replace_every);
  }
}

// The stall: blocking inside the range callback keeps the whole range()
// call, and its epoch pin, open.
void StalledReader::export_loop() {
  std::this_thread::sleep_for(params_.stall_after);
  if (params_.stall_for.count() > 0) {
    export_with_deadline();
    return;
  }
  while (!released()) {
    sessions_.range([this](const std::uint64_t&, const std::shared_ptr<const CacheValue>&) {
      std::unique_lock lk(slot_mu_);
      wait_until(slot_cv_, lk, [this] { return released(); }, "export slot");
      exported_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
      return !released();
    });
  }
}

// The control: the slot wait inside range() gives up after stall_for, once
// per range, so the pin and the backlog it holds last that long at most.
void StalledReader::export_with_deadline() {
  while (!released()) {
    bool waited = false;
    sessions_.range([&](const std::uint64_t&, const std::shared_ptr<const CacheValue>&) {
      if (!waited) {
        waited = true;
        std::unique_lock lk(slot_mu_);
        wait_until_for(slot_cv_, lk, params_.stall_for, [this] { return released(); }, "export slot");
      }
      exported_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
      return !released();
    });
    std::unique_lock lk(slot_mu_);
    wait_until_for(slot_cv_, lk, params_.rest_between, [this] { return released(); }, "next export");
  }
}

bool StalledReader::stop() {
  if (tasks_.released()) return true;  // stopped before: only stop() releases
  tasks_.release();
  slot_cv_.notify_all();
  const bool all_returned = tasks_.wait_all(std::chrono::seconds(5));
  sessions_.reclaim_now();
  return all_returned;
}

std::string StalledReader::summary() const {
  // relaxed loads: statistics.
  return absl::StrFormat(
      "%d sessions of %d KiB; %d values replaced while the exporter waited inside range() "
      "for an export slot%s; %d entries exported",
      params_.sessions, params_.value_bytes / 1024, replaced_.load(std::memory_order_relaxed),
      params_.stall_for.count() > 0 ? absl::StrFormat(" (at most %d ms per range)", params_.stall_for.count())
                                    : std::string(),
      exported_.load(std::memory_order_relaxed));
}

MapBacklog StalledReader::backlog() const {
  return sessions_.backlog();
}

}  // namespace syncscope::lab
