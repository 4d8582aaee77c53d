// Task labels: the interned (name, site) pairs and the per-tid slots.
#include "syncscope/prof/task_labels.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <utility>

namespace syncscope::prof {
namespace {

struct Labels {
  std::mutex mu;
  // id i+1 is pairs[i]; a deque so references stay valid as it grows.
  std::deque<std::pair<std::string, std::string>> pairs;          // guarded by mu
  std::map<std::pair<std::string, std::string>, std::uint32_t> ids;  // guarded by mu
};

Labels& labels() {
  static Labels* l = new Labels();  // never destroyed: read until exit
  return *l;
}

// Slot tid % kThreadLabelSlots: (tid << 32) | label, 0 = empty. Written by
// the thread itself, read by anyone (a signal handler included).
std::atomic<std::uint64_t> g_thread_label[kThreadLabelSlots];
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "read in signal handlers");

pid_t own_tid() noexcept {
  thread_local pid_t tid = 0;
  if (tid == 0) tid = static_cast<pid_t>(::syscall(SYS_gettid));
  return tid;
}

}  // namespace

std::uint32_t intern_task_label(std::string_view task, std::string_view site) {
  Labels& l = labels();
  std::pair<std::string, std::string> key{std::string(task), std::string(site)};
  std::lock_guard lock(l.mu);
  auto it = l.ids.find(key);
  if (it != l.ids.end()) return it->second;
  if (l.pairs.size() >= kMaxTaskLabels) return 0;
  l.pairs.push_back(key);
  const auto id = static_cast<std::uint32_t>(l.pairs.size());
  l.ids.emplace(std::move(key), id);
  return id;
}

std::uint32_t set_thread_task_label(std::uint32_t label) noexcept {
  const pid_t tid = own_tid();
  std::atomic<std::uint64_t>& slot = g_thread_label[static_cast<std::uint32_t>(tid) % kThreadLabelSlots];
  const std::uint64_t mine = static_cast<std::uint64_t>(static_cast<std::uint32_t>(tid)) << 32;
  // relaxed: the slot is read by samplers of this same thread (a handler
  // running on it) or later; a stale read only mislabels nothing (tid check).
  const std::uint64_t old = slot.exchange(label == 0 ? 0 : mine | label, std::memory_order_relaxed);
  return (old >> 32) == static_cast<std::uint32_t>(tid) ? static_cast<std::uint32_t>(old) : 0;
}

std::uint32_t thread_task_label(pid_t tid) noexcept {
  // relaxed: see set_thread_task_label.
  const std::uint64_t v =
      g_thread_label[static_cast<std::uint32_t>(tid) % kThreadLabelSlots].load(std::memory_order_relaxed);
  return (v >> 32) == static_cast<std::uint32_t>(tid) ? static_cast<std::uint32_t>(v) : 0;
}

bool task_label_strings(std::uint32_t label, std::string* task, std::string* site) {
  if (label == 0) return false;
  Labels& l = labels();
  std::lock_guard lock(l.mu);
  if (label > l.pairs.size()) return false;
  *task = l.pairs[label - 1].first;
  *site = l.pairs[label - 1].second;
  return true;
}

std::vector<SampleLabel> task_sample_labels(std::uint32_t label) {
  std::string task, site;
  if (!task_label_strings(label, &task, &site)) return {};
  std::vector<SampleLabel> out(2);
  out[0].key = "task";
  out[0].str = std::move(task);
  out[1].key = "task_site";
  out[1].str = std::move(site);
  return out;
}

}  // namespace syncscope::prof
