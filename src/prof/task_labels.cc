// Task labels: the interned (name, site) pairs (the per-tid slots:
// thread_task_label.cc).
#include "syncscope/prof/task_labels.h"

#include <deque>
#include <map>
#include <utility>

#include "common/annotated_mutex.h"

namespace syncscope::prof {
namespace {

struct Labels {
  common::Mutex mu;
  // id i+1 is pairs[i]; a deque so references stay valid as it grows.
  std::deque<std::pair<std::string, std::string>> pairs ABSL_GUARDED_BY(mu);
  std::map<std::pair<std::string, std::string>, std::uint32_t> ids ABSL_GUARDED_BY(mu);
};

Labels& labels() {
  static Labels* l = new Labels();  // never destroyed: read until exit
  return *l;
}

}  // namespace

std::uint32_t intern_task_label(std::string_view task, std::string_view site) {
  Labels& l = labels();
  std::pair<std::string, std::string> key{std::string(task), std::string(site)};
  common::MutexLock lock(l.mu);
  auto it = l.ids.find(key);
  if (it != l.ids.end()) return it->second;
  if (l.pairs.size() >= kMaxTaskLabels) return 0;
  l.pairs.push_back(key);
  const auto id = static_cast<std::uint32_t>(l.pairs.size());
  l.ids.emplace(std::move(key), id);
  return id;
}

bool task_label_strings(std::uint32_t label, std::string* task, std::string* site) {
  if (label == 0) return false;
  Labels& l = labels();
  common::MutexLock lock(l.mu);
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
