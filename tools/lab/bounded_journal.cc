#include "bounded_journal.h"

#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"

namespace syncscope::lab {
namespace {

// Not inlined: the allocation site reads "allocate_journal_record".
[[gnu::noinline]] std::unique_ptr<std::byte[]> allocate_journal_record(std::size_t bytes, std::uint64_t n) {
  auto r = std::make_unique<std::byte[]>(bytes);
  for (std::size_t i = 0; i < bytes; i += 512) r[i] = static_cast<std::byte>(n + i);  // touch the pages
  return r;
}

}  // namespace

BoundedJournal::BoundedJournal(BoundedJournalParams params) : params_(params) {}

BoundedJournal::~BoundedJournal() { stop(); }

void BoundedJournal::start() {
  if (started_) return;
  started_ = true;
  tasks_.spawn("journal recorder", [this] { record_loop(); });
}

// The journal lives on this task's stack; it is freed when the task returns.
void BoundedJournal::record_loop() {
  std::vector<std::unique_ptr<std::byte[]>> journal;  // at most max_records
  const auto begin = std::chrono::steady_clock::now();
  for (std::uint64_t n = 0; !tasks_.released(); ++n) {
    auto record = allocate_journal_record(params_.record_bytes, n);
    if (journal.size() < params_.max_records) {
      journal.push_back(std::move(record));
    } else {
      journal[n % params_.max_records] = std::move(record);  // the oldest goes
    }
    appended_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
    std::this_thread::sleep_until(begin + (n + 1) * params_.append_every);
  }
}

bool BoundedJournal::stop() {
  if (tasks_.released()) return true;  // stopped before: only stop() releases
  tasks_.release();
  return tasks_.wait_all(std::chrono::seconds(5));
}

std::string BoundedJournal::summary() const {
  // relaxed load: statistic.
  return absl::StrFormat("journal of at most %d records of %d KiB (%.1f MiB); %d records appended",
                         params_.max_records, params_.record_bytes / 1024,
                         static_cast<double>(params_.max_records * params_.record_bytes) / (1024.0 * 1024.0),
                         appended_.load(std::memory_order_relaxed));
}

}  // namespace syncscope::lab
