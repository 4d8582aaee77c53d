#include "three_level.h"

#include <thread>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/container/flat_hash_map.h"
#include "tasks_shim.h"

namespace syncscope::lab {
namespace {

[[gnu::noinline]] std::unique_ptr<Payload> make_payload(std::uint64_t id, std::size_t size) {
  auto p = std::make_unique<Payload>();
  p->id = id;
  p->size = size;
  p->bytes = std::make_unique<std::byte[]>(size);
  for (std::size_t i = 0; i < size; i += 512) p->bytes[i] = static_cast<std::byte>(id + i);
  return p;
}

[[gnu::noinline]] std::shared_ptr<const Wrapper> make_wrapper(std::uint64_t key, std::uint64_t version,
                                                              const ThreeLevelParams& params) {
  auto w = std::make_shared<Wrapper>();
  w->key = key;
  w->version = version;
  w->items.reserve(params.items_per_wrapper);
  for (std::size_t i = 0; i < params.items_per_wrapper; ++i) {
    w->items.push_back(make_payload(key * 1000 + i, (i + 1) * params.item_unit));
  }
  return w;
}

}  // namespace

ThreeLevel::ThreeLevel(ThreeLevelParams params)
    : params_(params),
      catalog_(syncscope::map::MapOptions{.name = "lab.catalog"}),
      views_(syncscope::map::MapOptions{.name = "lab.catalog.views"}) {
  for (std::uint64_t k = 0; k < params_.keys; ++k) catalog_.store(k, make_wrapper(k, 0, params_));
}

ThreeLevel::~ThreeLevel() { stop(); }

void ThreeLevel::start() {
  if (started_) return;
  started_ = true;
  tasks_.spawn("catalog writer", [this] { writer_loop(); });
  tasks_.spawn("audit recorder", [this] { audit_loop(); });
}

void ThreeLevel::writer_loop() {
  std::uint64_t key = 0;
  std::uint64_t version = 1;
  while (!released()) {
    catalog_.store(key, make_wrapper(key, version, params_));
    for (std::size_t i = 0; i < params_.counter_updates_per_tick; ++i) {
      const std::uint64_t k = (key + i) % params_.keys;
      views_.store(k, views_.load(k).value_or(0) + 1);
    }
    replaced_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
    key = (key + 1) % params_.keys;
    if (key == 0) ++version;
    std::this_thread::sleep_for(params_.replace_every);
  }
}

// The long-lived holder. `history` lives on this task's stack: it is the
// root of the chain history -> Wrapper -> items -> Payload.
void ThreeLevel::audit_loop() {
  std::vector<std::shared_ptr<const Payload>> history;
  struct Record {  // what the audit needs, copied (hold_pointer == false)
    std::uint64_t id = 0;
    std::size_t size = 0;
  };
  std::vector<Record> records;
  absl::flat_hash_map<std::uint64_t, std::uint64_t> seen;  // key -> last version audited
  while (!released()) {
    std::vector<std::shared_ptr<const Wrapper>> fresh;
    catalog_.range([&](const std::uint64_t& key, const std::shared_ptr<const Wrapper>& w) {
      auto [it, inserted] = seen.try_emplace(key, w->version);
      if (inserted || it->second != w->version) {
        it->second = w->version;
        fresh.push_back(w);  // a copy made on purpose, outside the callback's lifetime rule
      }
    });
    for (const auto& w : fresh) {
      if (history.size() + records.size() >= params_.max_history) break;
      if (params_.hold_pointer) {
        // Aliasing constructor: points at items[0], owns the whole wrapper.
        history.emplace_back(w, w->items.front().get());
      } else {
        records.push_back({w->items.front()->id, w->items.front()->size});
      }
      kept_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistic
    }
    fresh.clear();
    std::this_thread::sleep_for(params_.audit_every);
  }
}

bool ThreeLevel::stop() {
  if (tasks_.released()) return true;  // stopped before: only stop() releases
  tasks_.release();
  return tasks_.wait_all(std::chrono::seconds(5));
}

std::string ThreeLevel::summary() const {
  // relaxed loads: statistics.
  return absl::StrFormat(
      "%d catalog keys, wrappers of %d payloads (%d..%d KiB); %d wrappers replaced, the audit "
      "recorder kept %s %d of them (capped at %d)",
      params_.keys, params_.items_per_wrapper, params_.item_unit / 1024,
      params_.items_per_wrapper * params_.item_unit / 1024, replaced_.load(std::memory_order_relaxed),
      params_.hold_pointer ? "a pointer into" : "a copied record (no pointer) of", kept_.load(std::memory_order_relaxed), params_.max_history);
}

MapBacklog ThreeLevel::backlog() const {
  return catalog_.backlog();
}

}  // namespace syncscope::lab
